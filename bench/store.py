"""The soft-label store (`KnowledgeDistillationCallback(cache=...)`): what it costs, what it holds, what it buys.

    python bench/store.py --speed     # an augmented image pipeline (Fashion-MNIST PNGs, RandomResizedCrop + aug_transforms):
                                      # epoch time of plain / live KD / recording / replaying fits side by side, a sweep of
                                      # 4 students on one store vs live KD, and one patient fit against its number of views
    python bench/store.py --imagenet  # a synthetic ImageNet-shaped store (1.28M items x 1,000 classes, top-10, one view):
                                      # bytes per item, items/s read, peak memory of a replaying process
    python bench/store.py --recipe    # the semi-supervised regime (1,000 of 20,000 labelled): recipes scored on a validation
                                      # split (epochs, views, augmentation, KD or DIST), accuracy against epochs
    python bench/store.py --curves    # the chosen recipe on the test set, 3 seeds (--seeds): live, stored and plain students by epoch
    python bench/store.py --all --out nbs/tutorials/benchmark_store.json   # everything (several hours on one core)
Every part keeps its finished fits in bench/results/store_*.json, so an interrupted run resumes where it stopped.
"""
import argparse, json, os, platform, resource, shutil, statistics, subprocess, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, torch
warnings.filterwarnings('ignore')
from fastai.learner import Learner
from fastai.callback.core import Callback
from fastai.callback.mixup import MixUp
from fastai.callback.schedule import fit_one_cycle
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from fastai.torch_core import set_seed
from fastai.vision.augment import aug_transforms
from fastai.vision.augment import RandomResizedCrop
from fastai.vision.core import PILImageBW
from fastai.vision.data import ImageDataLoaders
from fastai.data.transforms import Normalize
from fastkd.data import fashion_mnist_dls, image_folder
from fastkd.testing import simple_cnn
from fastkd.report import n_params
from fastkd.kd import KnowledgeDistillationCallback, record_teacher
from fastkd.cache import SoftLabelStore, OutputFormat, compress_logits, expand_logits

from common import quiet, Runs, begin  # bench/common.py

RESULTS = Path(__file__).parent / 'results'

def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for part in ('speed', 'imagenet', 'recipe', 'curves', 'all'): p.add_argument(f'--{part}', action='store_true')
    p.add_argument('--quick', action='store_true', help='smaller and shorter, to check the script runs')
    p.add_argument('--runs', default='store_runs', help='the file under bench/results/ that keeps finished fits (one per process running)')
    p.add_argument('--out', default=None, help='also write the results (merged with those there) as JSON here')
    p.add_argument('--seeds', type=int, default=3, help='seeds of --curves (each adds a live, a stored and a plain fit)')
    return p.parse_args()

class EpochTimes(Callback):
    "Seconds of each training epoch (validation excluded)"
    order = 101
    def before_fit(self): self.times = []
    def before_train(self): self.start = time.perf_counter()
    def after_train(self): self.times.append(time.perf_counter() - self.start)

## The semi-supervised regime: the teacher, the data, the recipes

def teacher_cnn(quick=False):
    "simple_cnn(32) on all 60,000 labelled training images, 6 epochs (bench/accuracy.py's teacher, shared through bench/results/)"
    n, epochs = (10_000, 1) if quick else (None, 6)
    path, model = RESULTS / f"teacher_cnn32_{n or 60000}_{epochs}ep.pth", simple_cnn(32)
    if path.exists(): model.load_state_dict(torch.load(path))
    else:
        set_seed(0)
        learn = quiet(Learner(fashion_mnist_dls(n_train=n, bs=128), model, metrics=accuracy))
        with learn.no_logging(): learn.fit_one_cycle(epochs, 1e-2)
        torch.save(model.state_dict(), path)
    return model.eval()

def test_accuracy(model):
    learn = Learner(fashion_mnist_dls(bs=256), model, metrics=accuracy)
    with learn.no_bar(), learn.no_logging(): return learn.validate()[1]

AUGMENT = {'none': None,
           'light': dict(max_rotate=10, max_zoom=1.1, max_warp=0., max_lighting=0., p_lighting=0., pad_mode='border'),
           'fastai': dict(pad_mode='border')}  # aug_transforms' defaults: flips, 10 degrees, zoom 1.1, warp 0.2, lighting 0.2

def semi_dls(seed, aug, valid, quick=False, labelled_only=False):
    "1,000 of 20,000 training images labelled (bench/accuracy.py's regime c), augmented on the training batches as asked"
    dls = fashion_mnist_dls(n_train=2000 if quick else 20_000, n_labelled=200 if quick else 1000, labelled_only=labelled_only,
                            bs=128, seed=seed, valid_from_train=(1000 if quick else 5000) if valid else None)
    if AUGMENT[aug] is not None: dls.train.after_batch.add(aug_transforms(**AUGMENT[aug]))
    return dls

class EpochAccuracy(Callback):
    "The validation accuracy after each epoch"
    order = 102
    def before_fit(self): self.accs = []
    def after_epoch(self):
        names = list(self.learn.recorder.metric_names[1:-1])  # Recorder's values: train_loss, valid_loss, metrics, fastkd's terms
        self.accs.append(float(self.learn.recorder.values[-1][names.index('accuracy')]))

def semi_fit(teacher, method, hp, aug, epochs, views, seed, valid, store=None, quick=False):
    "One student (simple_cnn(8)) of the regime; 'plain' trains on the labelled images alone. Accuracy by epoch, seconds"
    set_seed(seed)
    dls = semi_dls(seed, aug, valid, quick, labelled_only=method == 'plain')
    cache = True if store is None else store  # False: live KD, the teacher on every batch
    cbs = [] if method == 'plain' else [KnowledgeDistillationCallback(teacher, cache=cache, views=views if cache is not False else None, **hp)]
    curve, times = EpochAccuracy(), EpochTimes()
    learn = quiet(Learner(dls, simple_cnn(8), loss_func=CrossEntropyLossFlat(), metrics=accuracy, cbs=[curve, times]))
    start = time.perf_counter()
    with learn.no_logging(): learn.fit_one_cycle(epochs, 1e-2, cbs=cbs)
    return dict(accs=curve.accs, acc=curve.accs[-1], seconds=time.perf_counter() - start, epoch_s=times.times)

RECIPES = {  # name: (method, settings, augmentation, epochs, views)
    'KD, 15 epochs (the patient recipe)': ('kd', dict(loss='kd', T=1, alpha=0.9), 'none', 15, None),
    'KD, 60 epochs': ('kd', dict(loss='kd', T=1, alpha=0.9), 'none', 60, 1),
    'KD, light augmentation, 60 epochs, 10 views': ('kd', dict(loss='kd', T=1, alpha=0.9), 'light', 60, 10),
    "KD, fastai's augmentation, 60 epochs, 10 views": ('kd', dict(loss='kd', T=1, alpha=0.9), 'fastai', 60, 10),
    'DIST, light augmentation, 60 epochs, 10 views': ('dist', dict(loss='dist', T=4, alpha=0.9), 'light', 60, 10),
    'KD, alpha=1, light augmentation, 60 epochs, 10 views': ('kd', dict(loss='kd', T=1, alpha=1.0), 'light', 60, 10),
    'KD, light augmentation, 150 epochs, 15 views': ('kd', dict(loss='kd', T=1, alpha=0.9), 'light', 150, 15),
    'KD, alpha=1, light augmentation, 150 epochs, 15 views': ('kd', dict(loss='kd', T=1, alpha=1.0), 'light', 150, 15),
    'DIST, light augmentation, 150 epochs, 15 views': ('dist', dict(loss='dist', T=4, alpha=0.9), 'light', 150, 15),
    'plain (the 1,000 labels), 15 epochs': ('plain', {}, 'none', 15, None),
    'plain (the 1,000 labels), light augmentation, 150 epochs': ('plain', {}, 'light', 150, None),
}

def recipe(args, runs, teacher):
    "Each recipe on seed 0, scored on 5,000 training images held out (never the test set)"
    rows = []
    for name, (method, hp, aug, epochs, views) in RECIPES.items():
        epochs = min(epochs, 3) if args.quick else epochs
        out = runs.get(f"recipe|{name}|{'quick' if args.quick else 'full'}",
                       lambda: semi_fit(teacher, method, hp, aug, epochs, min(views or epochs, epochs), 0, True, quick=args.quick))
        rows.append(dict(recipe=name, method=method, hp=hp, augmentation=aug, epochs=epochs, views=views, **out))
        print(f"  {name:<56} valid {100 * out['acc']:.2f} % ({out['seconds'] / 60:.1f} min)", flush=True)
    return rows

## Speed: an augmented image pipeline

SIZE = 32  # pixels: Fashion-MNIST's 28x28 PNGs, random-resized-cropped

def folder_dls(args, bs=128):
    "fastai's recipe on image files: RandomResizedCrop on PIL images, aug_transforms and Normalize on the batch, no workers"
    n_train, n_valid = (1024, 256) if args.quick else (10_000, 2000)
    folder = image_folder(RESULTS / f'fashion_mnist_png_{n_train}', 'fashion-mnist', n_train=n_train, n_valid=n_valid)
    return ImageDataLoaders.from_folder(folder, valid='valid', img_cls=PILImageBW, bs=bs, num_workers=0,
                                        item_tfms=RandomResizedCrop(SIZE, min_scale=0.35),
                                        batch_tfms=[*aug_transforms(pad_mode='border'), Normalize.from_stats([0.286], [0.353])])

def speed_models():
    "A teacher whose inference costs more than twice the student's training step, and two student architectures"
    return simple_cnn(64, depth=4), {'cnn16': lambda: simple_cnn(16), 'cnn8': lambda: simple_cnn(8)}

def timed_fit(dls, student, cbs, epochs, seed=0):
    "Seconds of each training epoch, and the fit's total"
    set_seed(seed)
    times = EpochTimes()
    learn = quiet(Learner(dls, student(), loss_func=CrossEntropyLossFlat(), cbs=[times]))
    start = time.perf_counter()
    with learn.no_logging(): learn.fit_one_cycle(epochs, 1e-3, cbs=cbs)
    return dict(epoch_s=times.times, total_s=time.perf_counter() - start)

def teacher_step_ratio(dls, teacher, student):
    "The teacher's inference time over the student's training step, on the same batches (without the data pipeline)"
    xb = [dls.train.one_batch()[0].as_subclass(torch.Tensor) for _ in range(3)]
    model, opt = student(), None
    opt = torch.optim.SGD(model.parameters(), 1e-3)
    def step(x): opt.zero_grad(); model(x).sum().backward(); opt.step()
    def infer(x):
        with torch.no_grad(): teacher.eval()(x)
    t = {}
    for name, f in (('student step', step), ('teacher inference', infer)):
        for x in xb: f(x)
        start = time.perf_counter()
        for _ in range(5):
            for x in xb: f(x)
        t[name] = (time.perf_counter() - start) / 15
    return t['teacher inference'] / t['student step'], t

def speed(args, runs):
    "Plain, live KD, recording and replaying fits side by side, several times; a sweep of students; views of a patient fit"
    teacher, students = speed_models()
    started = time.perf_counter()
    dls, epochs, repeats = folder_dls(args), 2, 1 if args.quick else 3
    ratio, step_times = teacher_step_ratio(dls, teacher, students['cnn16'])
    print(f"  teacher inference / student training step: {ratio:.2f}", flush=True)
    kd = lambda cache: [KnowledgeDistillationCallback(teacher, T=4, cache=cache)]
    times = {k: [] for k in ('plain', 'live KD', 'recording', 'replaying')}
    for r in range(repeats):
        folder = Path(tempfile.mkdtemp(dir=RESULTS)) / 'store'
        times['plain'].append(timed_fit(dls, students['cnn16'], [], epochs))
        times['live KD'].append(timed_fit(dls, students['cnn16'], kd(False), epochs))
        times['recording'].append(timed_fit(dls, students['cnn16'], kd(folder), epochs))
        times['replaying'].append(timed_fit(dls, students['cnn16'], kd(folder), epochs))
        shutil.rmtree(folder.parent)
    med = {k: statistics.median(e for fit in v for e in fit['epoch_s']) for k, v in times.items()}
    ratios = {'replaying / plain': med['replaying'] / med['plain'], 'recording / live KD': med['recording'] / med['live KD']}
    for k, v in ratios.items(): print(f"  {k:<24}{v:.3f}", flush=True)
    students_sweep, views = sweep(args, dls, teacher, students, kd), views_sweep(args, runs)
    return dict(minutes=(time.perf_counter() - started) / 60, images_per_epoch=len(dls.train) * dls.train.bs, size=SIZE, epochs=epochs, repeats=repeats, teacher_params=n_params(teacher),
                student_params=n_params(students['cnn16']()), teacher_over_student_step=ratio, step_times=step_times,
                epoch_s=med, ratios=ratios, sweep=students_sweep, views=views)

def sweep(args, dls, teacher, students, kd):
    "4 students (2 architectures x 2 seeds) trained with live KD, and on one store (recorded by the first of them)"
    folder, epochs, total = Path(tempfile.mkdtemp(dir=RESULTS)) / 'store', 2, {}
    for name, cache in (('live KD', False), ('one store', folder)):
        start = time.perf_counter()
        for arch in students:
            for seed in (0, 1): timed_fit(dls, students[arch], kd(cache), epochs, seed)
        total[name] = time.perf_counter() - start
    shutil.rmtree(folder.parent)
    print(f"  sweep of 4 students: live KD {total['live KD']:.0f}s, one store {total['one store']:.0f}s", flush=True)
    return dict(students=4, epochs=epochs, total_s=total, ratio=total['one store'] / total['live KD'])

def views_sweep(args, runs):
    "One patient fit of the semi-supervised regime with light augmentation, against its number of views: total time, accuracy"
    teacher, epochs = teacher_cnn(args.quick), 4 if args.quick else 16
    rows = []
    for v in sorted({1, 2, 4, 8, epochs}):
        out = runs.get(f"views|{v}|{epochs}|{'quick' if args.quick else 'full'}",
                       lambda: semi_fit(teacher, 'kd', dict(loss='kd', T=1, alpha=0.9), 'light', epochs, min(v, epochs), 0, False, quick=args.quick))
        rows.append(dict(views=v, epochs=epochs, acc=out['acc'], seconds=out['seconds'], accs=out['accs']))
        print(f"  views={v:<3} of {epochs} epochs: {100 * out['acc']:.2f} % in {out['seconds'] / 60:.1f} min", flush=True)
    return rows

## A synthetic ImageNet-shaped store

def imagenet(args):
    "Write a store of 1.28M items x 1,000 classes (top-10 of random logits, one view), then read it back in a fresh process"
    n, classes, chunk = (64_000 if args.quick else 1_281_167), 1000, 16_384
    folder = Path(tempfile.mkdtemp(dir=RESULTS)) / 'imagenet'
    fmt = OutputFormat((classes,), 'classification', 10)
    store = SoftLabelStore(folder)
    store.open(dict(synthetic='imagenet'), {f't0.{k}': v for k, v in fmt.fields.items()}, n)
    arrays, g, start = store.view(0), torch.Generator().manual_seed(0), time.perf_counter()
    for i in range(0, n, chunk):
        logits = torch.randn(min(chunk, n - i), classes, generator=g) * 3
        for k, v in fmt.encode(logits).items(): arrays[f't0.{k}'][i:i + len(logits)] = v.numpy()
        arrays['filled'][i:i + len(logits)] = 1
    store.flush()
    write_s, size = time.perf_counter() - start, sum(f.stat().st_size for f in folder.rglob('*.npy'))
    read = json.loads(subprocess.run([sys.executable, '-c', READER, str(folder)], capture_output=True, text=True,
                                     check=True).stdout.strip().splitlines()[-1])
    shutil.rmtree(folder.parent)
    out = dict(minutes=(time.perf_counter() - start) / 60, items=n, classes=classes, top_k=10, bytes_per_item=size / n, store_mb=size / 1e6, write_items_per_s=n / write_s, **read)
    print(f"  {n:,} items: {out['bytes_per_item']:.1f} bytes per item ({out['store_mb']:.0f} MB), read and decoded at "
          f"{out['read_items_per_s']:,.0f} items/s, replaying process peak memory {out['peak_rss_mib']:.0f} MiB "
          f"({out['imports_rss_mib']:.0f} MiB of it torch and fastai once imported)", flush=True)
    return out

READER = """
import json, re, sys, time, numpy as np, torch
from pathlib import Path
from fastkd.cache import SoftLabelStore, OutputFormat
hwm = lambda: int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])  # peak RSS of this program, KiB
before = hwm()
fmt, store = OutputFormat((1000,), 'classification', 10), SoftLabelStore(Path(sys.argv[1]))
store.fields = {f't0.{k}': v for k, v in fmt.fields.items()}
arrays = store.view(0, create=False)
n, start = len(arrays['filled']), time.perf_counter()
for i in range(0, n, 256):  # what a replaying fit reads per batch, decoded to dense logits
    fmt.decode({k: torch.from_numpy(np.ascontiguousarray(arrays[f't0.{k}'][i:i + 256])) for k in fmt.fields})
secs, peak = time.perf_counter() - start, hwm()
print(json.dumps(dict(read_items_per_s=n / secs, read_s=secs, peak_rss_mib=peak / 1024, imports_rss_mib=before / 1024)))
"""  # the replaying process of --imagenet: torch, fastkd's store and the memory-mapped files, nothing else

def curves(args, runs, teacher, recipes):
    "The best recipe on the validation split, on the test set for `args.seeds` seeds: stored (its views), live (no store) and plain students"
    best = max((r for r in recipes if r['method'] != 'plain'), key=lambda r: r['acc'])
    method, hp, aug, epochs, views = RECIPES[best['recipe']]
    epochs, seeds = (min(epochs, 3), 1) if args.quick else (epochs, args.seeds)
    kinds = {'stored': (method, hp, views), 'live': (method, hp, None), 'plain': ('plain', {}, None)}
    rows = []
    for kind, (m, h, v) in kinds.items():
        fits = [runs.get(f"curve|{best['recipe']}|{kind}|seed{seed}|{'quick' if args.quick else 'full'}",
                         lambda: semi_fit(teacher, m, h, aug, epochs, min(v or epochs, epochs), seed, False, store=None if kind == 'stored' else False, quick=args.quick))
                for seed in range(seeds)]
        accs = [f['acc'] for f in fits]
        rows.append(dict(kind=kind, accs=accs, mean=statistics.mean(accs), std=statistics.stdev(accs) if len(accs) > 1 else 0.,
                         by_epoch=[statistics.mean(f['accs'][e] for f in fits) for e in range(epochs)], minutes=sum(f['seconds'] for f in fits) / 60))
        print(f"  {kind:<8} {100 * rows[-1]['mean']:.2f} ± {100 * rows[-1]['std']:.2f} % ({rows[-1]['minutes']:.0f} min)", flush=True)
    return dict(recipe=best['recipe'], method=method, hp=hp, augmentation=aug, epochs=epochs, views=views, seeds=seeds, rows=rows)

def minutes(out:dict)->float:
    "Minutes of every part that ran: the recipes' and curves' fits, the speed and ImageNet parts"
    recipes = sum(r['seconds'] for r in out.get('recipes', [])) / 60
    return recipes + sum(r['minutes'] for r in out.get('curves', {}).get('rows', [])) + sum(out.get(p, {}).get('minutes', 0) for p in ('speed', 'imagenet'))

def main():
    args = parse()
    start = begin(RESULTS)
    runs = Runs(RESULTS / f"{args.runs}{'_quick' if args.quick else ''}.json")
    made = dict(machine=f"{platform.machine()}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} thread(s), torch {torch.__version__}")
    if args.recipe or args.curves or args.all:
        teacher = teacher_cnn(args.quick)
        made['teacher'] = dict(params=n_params(teacher), accuracy=runs.get(f'teacher-test|{args.quick}', lambda: dict(acc=test_accuracy(teacher)))['acc'])
        print(f"teacher: {100 * made['teacher']['accuracy']:.2f} % on the test set", flush=True)
    parts = {'recipes': (args.recipe or args.all or args.curves, lambda: recipe(args, runs, teacher)),
             'curves': (args.curves or args.all, lambda: curves(args, runs, teacher, made['recipes'])),
             'speed': (args.speed or args.all, lambda: speed(args, runs)), 'imagenet': (args.imagenet or args.all, lambda: imagenet(args))}
    for part, (wanted, run) in parts.items():
        if wanted: made[part] = run()
    print(f"{(time.perf_counter() - start) / 60:.1f} min")
    command = ' '.join(['python bench/store.py'] + sys.argv[1:])
    for path in [RESULTS / f"store{'_quick' if args.quick else ''}.json"] + ([Path(args.out)] if args.out else []):
        out = json.loads(Path(path).read_text()) if Path(path).exists() else {}  # read now: another part may have written it meanwhile
        out.update(made)
        out['commands'] = list(dict.fromkeys([*out.get('commands', []), command]))  # each part's, in the order they ran
        out['minutes'] = minutes(out)
        Path(path).write_text(json.dumps(out, indent=1))

if __name__ == '__main__': main()
