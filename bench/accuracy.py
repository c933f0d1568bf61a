"""Accuracy benchmark on Fashion-MNIST: when does distillation make a small student better?

Regimes (the teacher is always trained on all 60,000 labelled training images, and cached in bench/results/):
  a) full labels: the student trains on N labelled images (default 20,000);
  b) scarce labels: the student trains on 2,000 labelled images only (repeated to N per epoch: same steps as a);
  c) semi-supervised: the student sees N images of which 1,000 are labelled; KD runs on all of them.
Rows: plain student, KD, KD + hints, KD + attention transfer, and fasterai's KD callback (SoftTarget, same T and
weight) where it applies; mean and std over seeds, same epochs/schedule for every student row.

    python bench/accuracy.py            # the full run (about an hour on one core)
    python bench/accuracy.py --quick    # a couple of minutes: smaller data, one seed, fewer epochs
    python bench/accuracy.py --patient  # (a) and (c) with 3x the epochs and the T, alpha chosen by bench/sweep.py
    python bench/accuracy.py --patient --checks  # (c) with what a sceptic asks for: a teacher that never saw the student's
                                                 # images, and plain students with early stopping or augmentation
Writes bench/results/accuracy.json (and --out, e.g. nbs/tutorials/benchmark_accuracy.json for the docs page).
"""
import argparse, json, os, platform, statistics, time, warnings
from pathlib import Path
import torch
warnings.filterwarnings('ignore')
from fastai.learner import Learner
from fastai.callback.schedule import fit_one_cycle
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from fastai.torch_core import set_seed
from fastkd.data import fashion_mnist_dls
from fastkd.testing import simple_cnn
from fastkd.report import n_params
from fastkd.kd import KnowledgeDistillationCallback
from fastkd.hints import FeatureHintCallback
from fastkd.attention import AttentionTransferCallback
from methods import BestEpoch, augment, outside_pools  # bench/methods.py

from common import quiet, use_threads  # bench/common.py

RESULTS = Path(__file__).parent / 'results'

def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true'); p.add_argument('--seeds', type=int, default=None)
    p.add_argument('--epochs', type=int, default=None); p.add_argument('--n-train', type=int, default=None)
    p.add_argument('--T', type=float, default=4.); p.add_argument('--alpha', type=float, default=0.5)
    p.add_argument('--regimes', default=None, help='which of a, b, c (default abc; ac with --patient)'); p.add_argument('--out', default=None)
    p.add_argument('--patient', action='store_true', help="regimes (a) and (c), plain vs KD, with 3x the epochs and the "
                   "T/alpha that bench/sweep.py chose on a validation split (T=1, alpha=0.9), teacher outputs cached")
    p.add_argument('--checks', action='store_true', help="with --patient, regime (c): KD from a teacher trained on the training "
                   "images outside every seed's pool (about as many steps as the usual teacher), so it never saw the student's "
                   "images; and the plain student with early stopping on a validation split, or with augmentation")
    return p.parse_args()

def teacher_model(args):
    "The teacher CNN trained on all training labels (or, with --checks, on the images outside every seed's pool), from bench/results/ when it was trained before"
    epochs, n = (1, 10_000) if args.quick else (6, None)
    ckpt = RESULTS / f"teacher_cnn32_{n or 60000}_{epochs}ep.pth"
    data = lambda: fashion_mnist_dls(n_train=n, bs=128)
    if args.checks:
        dls, seeds = outside_pools(regimes(args)['c'][2]['n_train'], args.seeds or 3, n), args.seeds or 3
        epochs = round(epochs * (n or 60_000) / len(dls.train_ds))  # about as many steps as the usual teacher
        ckpt, data = RESULTS / f"teacher_cnn32_outside_{seeds}x{regimes(args)['c'][2]['n_train']}_{epochs}ep.pth", lambda: dls
    model, args.teacher_images = simple_cnn(32), len(data().train_ds)
    if ckpt.exists(): model.load_state_dict(torch.load(ckpt)); return model, 'cached'
    set_seed(0)
    learn = quiet(Learner(data(), model, metrics=accuracy))
    start = time.perf_counter()
    with learn.no_logging(): learn.fit_one_cycle(epochs, 1e-2)
    RESULTS.mkdir(exist_ok=True); torch.save(model.state_dict(), ckpt)
    return model, f'trained in {time.perf_counter() - start:.0f}s'

def fasterai_kd(teacher, T, alpha):
    from fasterai.distill.all import KnowledgeDistillationCallback as FasteraiKD, SoftTarget
    return FasteraiKD(teacher, lambda pred, teacher_pred, **kw: SoftTarget(pred, teacher_pred, T=T), weight=alpha)

def methods(teacher, args):
    layers = (['2', '5'], ['2', '5'])  # 28x28 and 14x14 stage outputs of both CNNs (pair_layers' choice)
    kd = lambda: KnowledgeDistillationCallback(teacher, T=args.T, alpha=args.alpha, cache=args.patient)
    if args.checks:
        return {'KD, disjoint teacher': lambda: [kd()], 'plain + early stopping': lambda: [BestEpoch()], 'plain + augmentation': lambda: []}
    if args.patient: return {'plain': lambda: [], 'KD': lambda: [kd()]}
    return {'plain': lambda: [], 'KD': lambda: [kd()],
            'KD + hints': lambda: [kd(), FeatureHintCallback(teacher, *layers, weight=0.1)],
            'KD + AT': lambda: [kd(), AttentionTransferCallback(teacher, *layers, weight=1000.)],
            'fasterai KD': lambda: [fasterai_kd(teacher, args.T, args.alpha)]}

def regimes(args):
    n = args.n_train or (2000 if args.quick else 20_000)
    scarce, labelled = (500, 200) if args.quick else (2000, 1000)
    scarce_only = dict(n_train=n, n_labelled=scarce, labelled_only=True)  # repeated to n items: same steps as (a)
    return {'a': (f'full labels ({n:,} images)', dict(n_train=n), dict(n_train=n), 'all'),
            'b': (f'scarce labels ({scarce:,} images)', scarce_only, scarce_only, 'all'),
            'c': (f'semi-supervised ({labelled:,} of {n:,} labelled)', dict(n_train=n, n_labelled=labelled, labelled_only=True),
                  dict(n_train=n, n_labelled=labelled), 'no fasterai')}

def run(args):
    teacher, how = teacher_model(args)
    t_learn = Learner(fashion_mnist_dls(bs=256), teacher, metrics=accuracy)
    with t_learn.no_bar(), t_learn.no_logging(): teacher_acc = t_learn.validate()[1]
    seeds, epochs = args.seeds or (1 if args.quick else 3), args.epochs or (2 if args.quick else 5)
    out = dict(teacher=dict(params=n_params(teacher), accuracy=teacher_acc, trained=how, images=args.teacher_images, disjoint=args.checks),
               student_params=n_params(simple_cnn(8)), seeds=seeds, epochs=epochs, T=args.T, alpha=args.alpha,
               machine=f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}", rows=[])
    print(f"teacher: {out['teacher']['params']:,} params, {teacher_acc:.2%} ({how}); student {out['student_params']:,} params")
    try: fasterai_kd(teacher, 1, 0.5); have_fasterai = True
    except ImportError: have_fasterai = False; print('fasterai not installed (pip install -e .[bench]): its rows are skipped')
    for key in args.regimes:
        name, plain_kw, kd_kw, which = regimes(args)[key]
        for method, cbs in methods(teacher, args).items():
            if method == 'fasterai KD' and (which != 'all' or not have_fasterai): continue
            accs, secs = [], []
            for seed in range(seeds):
                set_seed(seed)
                data_kw = plain_kw if method.startswith('plain') else kd_kw
                stopping = method == 'plain + early stopping'  # chooses its epoch on 5,000 training images held out
                dls = fashion_mnist_dls(bs=128, seed=seed, valid_from_train=5000 if stopping else None, **data_kw)
                if method == 'plain + augmentation': augment(dls)
                learn = quiet(Learner(dls, simple_cnn(8), loss_func=CrossEntropyLossFlat(), metrics=accuracy))
                start = time.perf_counter()
                with learn.no_logging(): learn.fit_one_cycle(epochs, 1e-2, cbs=cbs())
                secs.append(time.perf_counter() - start)
                test = fashion_mnist_dls(bs=128, seed=seed, **data_kw).valid if stopping else None
                with learn.no_bar(), learn.no_logging(): accs.append(learn.validate(dl=test)[1])  # the 10,000 test images
            row = dict(regime=key, regime_name=name, method=method, mean=statistics.mean(accs),
                       std=statistics.stdev(accs) if len(accs) > 1 else 0., accs=accs, seconds_per_epoch=statistics.mean(secs) / epochs)
            out['rows'].append(row)
            print(f"({key}) {name:<40} {method:<12} {100 * row['mean']:6.2f} ± {100 * row['std']:.2f}   "
                  f"{row['seconds_per_epoch']:.1f} s/epoch", flush=True)
    return out

def summary(out):
    "Gap closed by KD in each regime: (KD - plain) / (teacher - plain)"
    lines = []
    for key in sorted({r['regime'] for r in out['rows']}):
        rows = {r['method']: r for r in out['rows'] if r['regime'] == key}
        if 'plain' not in rows: continue
        plain, kd, teacher = rows['plain']['mean'], rows['KD']['mean'], out['teacher']['accuracy']
        lines.append(f"({key}) KD - plain = {100 * (kd - plain):+.2f} pp (plain std {100 * rows['plain']['std']:.2f}); "
                     f"gap to the teacher closed: {(kd - plain) / (teacher - plain):.0%}"
                     + (f"; fastkd KD - fasterai KD = {100 * (kd - rows['fasterai KD']['mean']):+.2f} pp" if 'fasterai KD' in rows else ''))
    return lines

if __name__ == '__main__':
    args = parse()
    if args.patient: args.regimes, args.T, args.alpha, args.epochs = args.regimes or ('c' if args.checks else 'ac'), 1., 0.9, 3 * (args.epochs or 5)
    args.regimes = args.regimes or 'abc'
    use_threads()
    start = time.perf_counter()
    out = run(args)
    out['summary'], out['minutes'] = summary(out), (time.perf_counter() - start) / 60
    print('\n'.join(out['summary'])); print(f"total {out['minutes']:.1f} min")
    RESULTS.mkdir(exist_ok=True)
    name = 'accuracy_patient_checks.json' if args.checks else 'accuracy_patient.json' if args.patient else 'accuracy_quick.json' if args.quick else 'accuracy.json'
    for path in [RESULTS / name] + ([Path(args.out)] if args.out else []):
        Path(path).write_text(json.dumps(out, indent=1))
