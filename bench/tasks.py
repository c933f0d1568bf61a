"""Distillation beyond classification: segmentation, multi-label classification and regression on Fashion-MNIST.

The tasks are fastkd.data's (`segmentation_dls`, `multilabel_dls`, `regression_dls` with data='fashion-mnist'):
  segmentation: 2x2 canvases (56x56), each foreground pixel labelled with its garment's class (11 classes with the
                background); metric: mIoU over the 11 classes (fastai's `JaccardCoeffMulti`) on canvases of test images;
  multi-label:  two images side by side (28x56), the target the multi-hot vector of their classes; metric: mAP, the
                macro average precision over the 10 classes (fastai's `APScoreMulti`);
  regression:   images rotated by up to 45 degrees either way, the target the angle / 45; metric: mean absolute error,
                reported in degrees.
Each task has a teacher trained on items made from all 60,000 training images (cached in bench/results/) and a student
that is tens of times smaller; every student row has the same one-cycle schedule and steps. Regimes, on a pool made
from 10,000 training images drawn per seed:
  full:   plain student vs KD (and channel-wise distillation, loss='cwd', for segmentation), all items labelled;
  scarce: 10% of the items labelled; KD trains on all of them (the unlabelled ones get the distillation term only),
          the plain student on the labelled ones alone (`labelled_only=True`, repeated to the same steps).
Each distillation method runs with fastkd's defaults (alpha=0.5, T from `default_temperature`: 1 for KD per pixel or
label, 4 for CWD), KD also at T=4 (classification's default), and each with the setting chosen on seed 0
from a small grid (T in 1, 4 and alpha in 0.5, 0.9; for regression the MSE or L1 to the teacher's output and alpha),
scored on a validation split made from other training images, never on the test items.

    python bench/tasks.py --out nbs/tutorials/benchmark_tasks.json   # about an hour on one core
    python bench/tasks.py --quick                                    # a couple of minutes: small, 1 seed, 1 epoch
Finished fits are kept in bench/results/tasks_runs_*.json, so an interrupted run resumes where it stopped; they are
keyed by task, regime, method, data, settings, epochs and seed, not by model: delete a task's entries after changing its models.
"""
import argparse, json, os, platform, statistics, sys, time, warnings
from pathlib import Path
import torch, torch.nn.functional as F
from torch import nn
warnings.filterwarnings('ignore')
from typing import Callable, NamedTuple
from fastai.learner import Learner
from fastai.callback.core import Callback, CancelValidException
from fastai.callback.schedule import fit_one_cycle
from fastai.metrics import JaccardCoeffMulti, APScoreMulti, mae
from fastai.torch_core import set_seed
from fastkd.data import segmentation_dls, multilabel_dls, regression_dls, arrays_dls
from fastkd.testing import simple_cnn
from fastkd.report import n_params
from fastkd.kd import KnowledgeDistillationCallback, default_temperature

from common import quiet, Runs, compare, begin  # bench/common.py

RESULTS = Path(__file__).parent / 'results'
MAX_ANGLE = 45.  # regression_dls's default: the target is angle / MAX_ANGLE

def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true'); p.add_argument('--seeds', type=int, default=None)
    p.add_argument('--epochs', type=int, default=None); p.add_argument('--tasks', default='segmentation,multilabel,regression')
    p.add_argument('--out', default=None)
    args = p.parse_args()
    args.seeds, args.epochs = args.seeds or (1 if args.quick else 3), args.epochs or (1 if args.quick else 5)
    args.tasks = args.tasks.split(',')
    return args

def conv(c_in, c_out, stride=1):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.BatchNorm2d(c_out), nn.ReLU())

class SegNet(nn.Module):
    "Convs down to 1/8 of the resolution (33-pixel receptive field) and bilinearly back up, next to the full-resolution stem for sharp edges"
    def __init__(self, width, n_classes=11):
        super().__init__()
        self.stem = conv(1, width)
        self.down = nn.Sequential(conv(width, 2 * width, 2), conv(2 * width, 4 * width, 2), conv(4 * width, 4 * width, 2), conv(4 * width, 4 * width))
        self.head = nn.Conv2d(5 * width, n_classes, 1)
    def forward(self, x):
        stem = self.stem(x)
        up = F.interpolate(self.down(stem), size=x.shape[-2:], mode='bilinear', align_corners=False)
        return self.head(torch.cat([stem, up], 1))

def degrees_mae(pred, targ): return mae(pred, targ) * MAX_ANGLE

class Task(NamedTuple):
    loader: Callable   # fastkd.data's loader of the task
    teacher: Callable  # makes the teacher model
    student: Callable  # makes the student model
    metric: Callable   # makes the fastai metric
    metric_name: str
    higher_is_better: bool
    teacher_items: int   # training items the teacher learns from
    teacher_epochs: int
    pool: int            # training items of a student's pool (made from 10,000 training images, or 8,000 for canvases)
    n_valid: int|None    # validation items (made from test images; None: each test image once)

TASKS = {
    'segmentation': Task(segmentation_dls, lambda: SegNet(16), lambda: SegNet(4), lambda: JaccardCoeffMulti(axis=1), 'mIoU (%)', True,
                         15_000, 3, 2_000, 1_000),
    'multilabel': Task(multilabel_dls, lambda: simple_cnn(24, 10, depth=4), lambda: simple_cnn(8, 10), lambda: APScoreMulti(), 'mAP (%)', True,
                       30_000, 4, 5_000, None),
    'regression': Task(regression_dls, lambda: simple_cnn(24, 1, depth=4), lambda: simple_cnn(4, 1), lambda: degrees_mae, 'MAE (degrees)', False,
                       60_000, 3, 10_000, None),
}

class SkipValidation(Callback):
    "No validation after each epoch: the metric reported is measured once, after training"
    def before_validate(self): raise CancelValidException()

def fit(task, dls, model, epochs, cbs=()):
    "One-cycle training; the task's metric on the validation items (made from test images) after training, seconds per epoch"
    learn = quiet(Learner(dls, model))
    start = time.perf_counter()
    with learn.no_logging(): learn.fit_one_cycle(epochs, 1e-2, cbs=[*cbs, SkipValidation()])
    secs = (time.perf_counter() - start) / epochs
    learn.metrics = TASKS[task].metric()
    with learn.no_bar(), learn.no_logging(): value = float(learn.validate()[1])
    return dict(metric=value if task == 'regression' else 100 * value, s_per_epoch=secs)

def loaders(task, args, **kw):
    n_valid = TASKS[task].n_valid
    return TASKS[task].loader('fashion-mnist', bs=64, n_valid=n_valid // 5 if args.quick and n_valid else n_valid, **kw)

def teacher(task, args, runs):
    "The task's teacher, trained on items made from all 60,000 training images (a tenth of them and one epoch with --quick); cached"
    spec = TASKS[task]
    n, epochs = (spec.teacher_items // 10, 1) if args.quick else (spec.teacher_items, spec.teacher_epochs)
    ckpt = RESULTS / f"teacher_{task}_{n}_{epochs}ep.pth"
    model = spec.teacher()
    if ckpt.exists(): model.load_state_dict(torch.load(ckpt))
    else:
        runs.done.pop(f'teacher|{ckpt.name}', None)
        def train():
            set_seed(0); return fit(task, loaders(task, args, n_train=n), model, epochs)
        runs.get(f'teacher|{ckpt.name}', train)
        torch.save(model.state_dict(), ckpt)
    trained = runs.done.get(f'teacher|{ckpt.name}', {})
    return model.eval(), dict(params=n_params(model), items=n, epochs=epochs, metric=trained.get('metric'), trained_s=trained.get('wall_s'))

TAG_BASE = dict(loss='kd', T=4., alpha=0.5)  # settings left out of the keys of finished fits (fastkd's defaults for classification)
KINDS = {'segmentation': ('classification', (1, 11, 1, 1)), 'multilabel': ('multilabel', (1, 10))}  # kind and output shape

def defaults(task, method):
    "KnowledgeDistillationCallback's defaults for the task's outputs: alpha=0.5 and, where the term has one, fastkd's `default_temperature`"
    loss = method.lower()
    if task not in KINDS: return dict(loss=loss, alpha=0.5)  # regression: no temperature
    kind, shape = KINDS[task]
    return dict(loss=loss, alpha=0.5, T=default_temperature(kind, torch.zeros(shape), loss))

def grid(task, method):
    "The settings tried on the validation split (regression's KD term has no temperature: MSE or L1 to the teacher's output)"
    if task == 'regression': return [dict(loss=loss, alpha=a) for loss in ('kd', 'l1') for a in (0.5, 0.9)]
    return [dict(loss=method.lower(), T=T, alpha=a) for T in (1., 4.) for a in (0.5, 0.9)]

def regime_data(task, regime, args, role):
    "Data arguments of a regime's plain rows (role 'plain') or distillation rows"
    pool = TASKS[task].pool // (5 if args.quick else 1)
    if regime == 'full': return dict(n_train=pool)
    return dict(n_train=pool, n_labelled=pool // 10, labelled_only=role == 'plain')

def split_loaders(task, args, n_train, n_labelled=None, labelled_only=False):
    "Items made from training images only, split for choosing settings: the first `n_train` to train, a quarter as many (other images) to validate"
    full = loaders(task, args, n_train=n_train + n_train // 4, seed=0).train_ds  # each training image in one item at most
    x = full.x * full.stats[1] + full.stats[0]
    return arrays_dls(x[:n_train], full.y[:n_train], x[n_train:], full.y[n_train:], full.vocab, bs=64, n_labelled=n_labelled,
                      labelled_only=labelled_only, seed=0, task=full.task)

def tag_of(task, regime, method, data_kw, kd_kw, args):
    kd = None if kd_kw is None else {k: v for k, v in kd_kw.items() if TAG_BASE.get(k) != v}  # the same fit, the same key
    return f"{task}|{regime}|{method.split(',')[0]}|{json.dumps(data_kw, sort_keys=True)}|{json.dumps(kd, sort_keys=True)}|{args.epochs}ep"

def tune(task, t_model, args, runs):
    "For each regime and distillation method, the grid on seed 0 scored on the validation split; the grid rows and the choices"
    spec, rows, chosen = TASKS[task], [], {}
    methods = ['KD'] + (['CWD'] if task == 'segmentation' else [])
    better = max if spec.higher_is_better else min
    for regime in ('full', 'scarce'):
        for method in ['plain'] + methods:
            kw = regime_data(task, regime, args, 'plain' if method == 'plain' else 'kd')
            def one(hp):
                set_seed(0)
                cbs = [] if hp is None else [KnowledgeDistillationCallback(t_model, cache=True, **hp)]
                return fit(task, split_loaders(task, args, **kw), spec.student(), args.epochs, cbs)
            settings = [None] if method == 'plain' else grid(task, method)[:1 if args.quick else None]
            scores = [(runs.get(tag_of(task, regime, method, kw, hp, args) + '|seed0|valid', lambda: one(hp))['metric'], i, hp)
                      for i, hp in enumerate(settings)]
            rows += [dict(task=task, regime=regime, method=method, hp=hp, valid=score) for score, _, hp in scores]
            if method != 'plain': chosen[(regime, method)] = better(scores, key=lambda s: (s[0], -s[1] if better is max else s[1]))[2]
    return rows, chosen

def rows_of(task, chosen, args):
    "(regime, method, data arguments, distillation callback arguments or None): plain, and each method with defaults and tuned"
    out = []
    for regime in ('full', 'scarce'):
        out.append((regime, 'plain', regime_data(task, regime, args, 'plain'), None))
        for method in ['KD'] + (['CWD'] if task == 'segmentation' else []):
            kw = regime_data(task, regime, args, 'kd')
            out.append((regime, f'{method}, defaults', kw, defaults(task, method)))
            if method == 'KD' and task in KINDS: out.append((regime, 'KD, T=4', kw, dict(TAG_BASE)))  # classification's temperature
            out.append((regime, f'{method}, tuned', kw, chosen[(regime, method)]))
    return out

def teacher_metric(task, model, args, seed):
    "The teacher's metric on the validation items a student of `seed` is scored on"
    learn = Learner(loaders(task, args, n_train=64, seed=seed), model, metrics=TASKS[task].metric())
    with learn.no_bar(), learn.no_logging(): value = float(learn.validate()[1])
    return dict(metric=value if task == 'regression' else 100 * value)

def run(args, runs):
    tasks, rows, grids = {}, [], []
    for task in args.tasks:
        spec = TASKS[task]
        t_model, t_info = teacher(task, args, runs)
        t_scores = [runs.get(f"teacher-valid|{task}|{t_info['items']}x{t_info['epochs']}ep|seed{s}",
                             lambda: teacher_metric(task, t_model, args, s))['metric'] for s in range(args.seeds)]
        t_info.update(scores=t_scores, mean=statistics.mean(t_scores))
        tasks[task] = dict(teacher=t_info, student_params=n_params(spec.student()), metric=spec.metric_name, higher_is_better=spec.higher_is_better)
        print(f"{task}: teacher {t_info['params']:,} params, {t_info['mean']:.2f}; student {tasks[task]['student_params']:,} params", flush=True)
        grid_rows, chosen = tune(task, t_model, args, runs)
        grids += grid_rows
        for regime, method, data_kw, kd_kw in rows_of(task, chosen, args):
            def one(seed):
                set_seed(seed)
                cbs = [] if kd_kw is None else [KnowledgeDistillationCallback(t_model, cache=True, **kd_kw)]
                return fit(task, loaders(task, args, seed=seed, **data_kw), spec.student(), args.epochs, cbs)
            fits = [runs.get(f'{tag_of(task, regime, method, data_kw, kd_kw, args)}|seed{s}', lambda: one(s)) for s in range(args.seeds)]
            scores = [f['metric'] for f in fits]
            row = dict(task=task, regime=regime, method=method, data=data_kw, kd=kd_kw, scores=scores, mean=statistics.mean(scores),
                       std=statistics.stdev(scores) if len(scores) > 1 else 0., seconds_per_epoch=statistics.mean(f['s_per_epoch'] for f in fits))
            rows.append(row)
            print(f"  ({regime}) {method:<14} {spec.metric_name:<14} {row['mean']:7.2f} ± {row['std']:.2f}", flush=True)
    return tasks, rows, grids

def summarise(tasks, rows):
    "Each row against the plain student of its task and regime: difference, and whether it exceeds the noise (the two stds combined)"
    lines = []
    for r in rows:
        if r['method'] == 'plain': continue
        plain = next(p for p in rows if p['task'] == r['task'] and p['regime'] == r['regime'] and p['method'] == 'plain')
        diff = compare(r, plain, tasks[r['task']]['higher_is_better'])
        lines.append(f"{r['task']} ({r['regime']}) {r['method']}: {diff:+.2f} {tasks[r['task']]['metric']} vs plain ({r['verdict']})")
    return lines

def main():
    args, start = parse(), begin(RESULTS)
    runs = Runs(RESULTS / f"tasks_runs{'_quick' if args.quick else ''}.json")
    tasks, rows, grids = run(args, runs)
    summary = summarise(tasks, rows)
    out = dict(tasks=tasks, rows=rows, grid=grids, summary=summary, seeds=args.seeds, epochs=args.epochs,
               minutes=sum(v['wall_s'] for v in runs.done.values()) / 60, minutes_this_run=(time.perf_counter() - start) / 60,
               command=' '.join(['python bench/tasks.py'] + sys.argv[1:]),
               machine=f"{platform.machine()}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} thread(s), torch {torch.__version__}")
    print('\n'.join(summary)); print(f"total {out['minutes']:.1f} min of fits")
    for path in [RESULTS / f"tasks{'_quick' if args.quick else ''}.json"] + ([Path(args.out)] if args.out else []):
        Path(path).write_text(json.dumps(out, indent=1))

if __name__ == '__main__': main()
