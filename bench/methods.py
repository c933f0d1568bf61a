"""Which distillation method makes a small student better, in which regime? Fashion-MNIST, tuned on a validation split.

Protocol of bench/accuracy.py: the teacher is `simple_cnn(32)` trained on all 60,000 labelled training images (cached
in bench/results/), every student `simple_cnn(8)` with the same one-cycle schedule and number of steps, accuracy on
the 10,000 test images, mean and std over seeds. Each seed draws a pool of N training images (default 10,000):
  full:   the student trains on the N images, all labelled;
  scarce: the student trains on 1,000 labelled images of the pool alone (repeated to N per epoch: the same steps);
  semi:   the student sees the N images, 1,000 of them labelled (the same 1,000 as in scarce); distillation runs on
          all of them, the task loss on the labelled ones; rows without a teacher train on the 1,000 alone;
  semi, disjoint teacher: the semi rows again, with a teacher trained only on training images outside every seed's
          pool, so that it never saw the student's images, labelled or not.
Rows: plain, plain + augmentation, plain + early stopping (on the validation split), pseudo-labels (the teacher's
argmax as the target of each unlabelled image, then plain training), KD, DKD, DIST, KD + logit standardisation (LS),
DKD + LS, FitNets hints and attention transfer alone, KD and DIST on the augmented pipeline (the teacher's outputs on
each augmented view, stored: consistent teaching, with the settings chosen for KD and DIST), KD from an ensemble of
two teachers and from its better member, and self-distillation (born-again generations, early exits).
Hyperparameters: for each method and regime a small grid on seed 0, scored on 5,000 training images held out
(`valid_from_train=5000`, outside the pool), never on the test set. The grid, the scores and the choice are in the JSON.

    python bench/methods.py --out nbs/tutorials/benchmark_methods.json   # about 90 minutes on one core
    python bench/methods.py --quick                                      # a couple of minutes: smaller, 1 seed
Finished fits are kept in bench/results/methods_runs_*.json: an interrupted run resumes where it stopped, and a rerun
only adds what is new (e.g. the self-distillation rows).
"""
import argparse, copy, json, os, platform, statistics, sys, time, warnings
from pathlib import Path
import torch
warnings.filterwarnings('ignore')
from fastai.learner import Learner, Recorder
from fastai.callback.core import Callback, CancelValidException
from fastai.callback.schedule import fit_one_cycle
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from fastai.torch_core import set_seed
from fastai.vision.augment import aug_transforms
from fastkd.data import fashion_mnist_dls, arrays_dls, FASHION_MNIST_CLASSES
from fastkd.losses import labelled_items
from fastkd.testing import simple_cnn
from fastkd.report import n_params
from fastkd.kd import KnowledgeDistillationCallback
from fastkd.hints import FeatureHintCallback
from fastkd.attention import AttentionTransferCallback

from common import quiet, Runs, compare, begin  # bench/common.py

RESULTS = Path(__file__).parent / 'results'
VALID = 5000  # training images held out for choosing hyperparameters

def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true', help='2,000-image pools, 200 labels, 1 seed, 2 epochs, one setting per method')
    p.add_argument('--seeds', type=int, default=None); p.add_argument('--epochs', type=int, default=None)
    p.add_argument('--n-train', type=int, default=None); p.add_argument('--out', default=None)
    p.add_argument('--only', default=None, help="comma-separated methods (e.g. 'FitNets hints,attention transfer'): run these "
                   "and merge their rows into the JSON already at --out")
    args = p.parse_args()
    args.seeds, args.epochs = args.seeds or (1 if args.quick else 3), args.epochs or (2 if args.quick else 5)
    args.n_train = args.n_train or (2000 if args.quick else 10_000)
    args.only = None if args.only is None else [m.strip() for m in args.only.split(',')]
    args.n_labelled, args.valid = (200, 1000) if args.quick else (1000, VALID)
    return args

## Teachers

def fit_teacher(dls, model, epochs, seed):
    set_seed(seed)
    learn = quiet(Learner(dls, model, metrics=accuracy))
    with learn.no_logging(): learn.fit_one_cycle(epochs, 1e-2)

def test_accuracy(model, bs=256):
    learn = Learner(fashion_mnist_dls(bs=bs), model, metrics=accuracy)
    with learn.no_bar(), learn.no_logging(): return learn.validate()[1]

def pools(n_train, seeds):
    "Indices (into the training files) of each seed's pool, as `fashion_mnist_dls(n_train=, seed=)` draws it"
    return [torch.randperm(60_000, generator=torch.Generator().manual_seed(s))[:n_train] for s in range(seeds)]

def outside_pools(n_train, seeds, limit=None):
    "DataLoaders of the labelled training images outside the pools of `n_train` images of seeds 0..seeds-1 (at most `limit`), validated on the test set"
    full = fashion_mnist_dls(bs=128)  # all 60,000 training images in file order, and the test set
    raw = lambda ds: (ds.x * ds.stats[1] + ds.stats[0], ds.y)
    (x, y), test = raw(full.train_ds), raw(full.valid_ds)
    outside = torch.ones(len(x), dtype=torch.bool)
    for s, pool in enumerate(pools(n_train, seeds)):
        assert torch.allclose(raw(fashion_mnist_dls(n_train=n_train, seed=s).train_ds)[0], x[pool], atol=1e-5), \
            'the pools differ from the images fashion_mnist_dls gives each seed'
        outside[pool] = False
    keep = outside.nonzero().flatten()[:limit]
    return arrays_dls(x[keep], y[keep], *test, FASHION_MNIST_CLASSES, bs=128)

def teachers(args, runs):
    "A and B: simple_cnn(32) on all training labels (seeds 0 and 1); 'disjoint': on the images outside every pool"
    epochs, n = (1, 10_000) if args.quick else (6, None)
    outside = outside_pools(args.n_train, args.seeds, n)  # all of them, or 10,000 with --quick
    n_out = len(outside.train_ds)
    d_epochs = epochs if args.quick else round(epochs * 60_000 / n_out)  # about as many steps as A and B
    specs = {'A': (f"teacher_cnn32_{n or 60000}_{epochs}ep.pth", lambda: fashion_mnist_dls(n_train=n, bs=128), epochs, 0),
             'B': (f"teacher_cnn32_{n or 60000}_{epochs}ep_seed1.pth", lambda: fashion_mnist_dls(n_train=n, bs=128, seed=1), epochs, 1),
             'disjoint': (f"teacher_cnn32_outside_{args.seeds}x{args.n_train}_{d_epochs}ep.pth", lambda: outside, d_epochs, 0)}
    models, info = {}, {}
    for name, (ckpt, dls, ep, seed) in specs.items():
        if args.only and name == 'B': continue  # only the ensemble rows need it
        model, path = simple_cnn(32), RESULTS / ckpt
        if path.exists(): model.load_state_dict(torch.load(path))
        else:
            runs.done.pop(f'teacher|{ckpt}', None)
            runs.get(f'teacher|{ckpt}', lambda: fit_teacher(dls(), model, ep, seed) or {})
            torch.save(model.state_dict(), path)
        models[name] = model.eval()
        acc = runs.get(f'teacher-test|{ckpt}', lambda: dict(acc=test_accuracy(model)))['acc']
        info[name] = dict(params=n_params(model), accuracy=acc, epochs=ep, images=n_out if name == 'disjoint' else (n or 60_000),
                          seed=seed, trained_s=runs.done.get(f'teacher|{ckpt}', {}).get('wall_s'))
    return models, info

## Students

def data(key, seed, args, valid=False):
    "The student's DataLoaders: 'full' (the pool, all labelled), 'labelled' (its labelled images alone), 'pool' (partly labelled)"
    kw = dict(n_train=args.n_train, bs=128, seed=seed, valid_from_train=args.valid if valid else None)
    if key == 'full': return fashion_mnist_dls(**kw)
    return fashion_mnist_dls(n_labelled=args.n_labelled, labelled_only=key == 'labelled', **kw)

class SkipValidation(Callback):
    "No validation after each epoch: the accuracy reported is measured once, after training"
    def before_validate(self): raise CancelValidException()

def student(dls, each_epoch=False):
    "A `simple_cnn(8)` student's Learner, with the accuracy metric when it validates after each epoch"
    return quiet(Learner(dls, simple_cnn(8), loss_func=CrossEntropyLossFlat(), metrics=accuracy if each_epoch else None))

def train(learn, cbs, epochs, each_epoch=False):
    "One-cycle training, validating after each epoch only when asked; seconds per epoch"
    start = time.perf_counter()
    with learn.no_logging(): learn.fit_one_cycle(epochs, 1e-2, cbs=list(cbs) + ([] if each_epoch else [SkipValidation()]))
    return (time.perf_counter() - start) / epochs

def score(learn, test=None):
    "Accuracy on the Learner's validation set, or on `test`'s"
    learn.metrics = accuracy
    with learn.no_bar(), learn.no_logging(): return learn.validate(dl=test.valid if test else None)[1]

def fit(dls, cbs, epochs, test=None, each_epoch=False):
    learn = student(dls, each_epoch)
    secs = train(learn, cbs, epochs, each_epoch)
    return dict(acc=score(learn, test), s_per_epoch=secs)

class BestEpoch(Callback):
    "Early stopping: keep the weights of the epoch with the best validation accuracy, and end with them"
    order = Recorder.order + 1
    def before_fit(self): self.best, self.state = -1., None
    def after_epoch(self):
        acc = self.learn.recorder.values[-1][-1]
        if acc > self.best: self.best, self.state, self.best_epoch = acc, copy.deepcopy(self.learn.model.state_dict()), self.epoch
    def after_fit(self): self.learn.model.load_state_dict(self.state)

def augment(dls):
    "Flips, rotations up to 10 degrees and zooms up to 1.1 on the training batches"
    for tfm in aug_transforms(max_rotate=10, max_zoom=1.1, max_warp=0., max_lighting=0., p_lighting=0., pad_mode='border'):
        dls.train.after_batch.add(tfm)
    return dls

def pseudo_label(dls, teacher, truth):
    "Give each unlabelled training image the teacher's argmax as its target; returns how many of those are right"
    ds, hidden = dls.train_ds, ~labelled_items(dls.train_ds.y)
    with torch.no_grad(): ds.y[hidden] = torch.cat([teacher(x).argmax(1) for x in ds.x[hidden].split(1024)])
    return (ds.y[hidden] == truth[hidden]).float().mean().item()

def kd_cb(teacher_models, hp):
    "fastkd's KD callback with a method's settings (loss, standardize, T, alpha, dkd_beta...), teacher outputs cached"
    return KnowledgeDistillationCallback(teacher_models if len(teacher_models) > 1 else teacher_models[0], cache=True, **hp)

def feature_cb(method, teacher, hp):
    "Feature distillation alone: FitNets hints or attention transfer at the 28x28 and 14x14 stage outputs of both CNNs"
    make = FeatureHintCallback if method == 'FitNets hints' else AttentionTransferCallback
    return make(teacher, ['2', '5'], ['2', '5'], **hp)

def run_method(method, hp, teacher_names, models, key, seed, args, valid):
    "One fit: the method's student on the regime's data `key` for `seed`; accuracy on the validation split or the test set"
    set_seed(seed)
    if method == 'plain': return fit(data(key, seed, args, valid), [], args.epochs)
    if method == 'plain + augmentation': return fit(augment(data(key, seed, args, valid)), [], args.epochs)
    if method == 'plain + early stopping':
        stop, test = BestEpoch(), None if valid else data(key, seed, args)
        out = fit(data(key, seed, args, valid=True), [stop], args.epochs, test=test, each_epoch=True)
        return dict(out, best_epoch=stop.best_epoch + 1)
    if method == 'pseudo-labels':
        dls, truth = data('pool', seed, args, valid), data('full', seed, args, valid).train_ds.y
        right = pseudo_label(dls, models[teacher_names[0]], truth)
        return dict(fit(dls, [], args.epochs), pseudo_label_accuracy=right)
    dls = data(key, seed, args, valid)
    if method in AUGMENTED: dls = augment(dls)  # consistent teaching: the teacher's outputs on the augmented views, stored and replayed
    if method in FEATURE_METHODS: return fit(dls, [feature_cb(method, models[teacher_names[0]], hp)], args.epochs)
    return fit(dls, [kd_cb([models[t] for t in teacher_names], hp)], args.epochs)

## Methods, regimes, grids

TEACHER_FREE = ('plain', 'plain + augmentation', 'plain + early stopping')
FEATURE_METHODS = {'FitNets hints': [dict(weight=w) for w in (0.1, 1.)], 'attention transfer': [dict(weight=w) for w in (100., 1000.)]}
AUGMENTED = {'KD + augmentation': 'KD', 'DIST + augmentation': 'DIST'}  # with the settings chosen for KD and DIST
KD_METHODS = {'KD': dict(loss='kd'), 'DKD': dict(loss='dkd'), 'DIST': dict(loss='dist'),
              'KD + LS': dict(loss='kd', standardize=True), 'DKD + LS': dict(loss='dkd', standardize=True)}
# regime -> (data of the distillation rows, teacher, regime whose hyperparameters it uses)
REGIMES = {'full': ('full', 'A', 'full'), 'scarce': ('labelled', 'A', 'scarce'), 'semi': ('pool', 'A', 'semi'),
           'semi, disjoint teacher': ('pool', 'disjoint', 'semi')}

def grid(method, chosen, quick):
    "The settings tried for `method` (DKD + LS starts from DKD's choice)"
    if method in FEATURE_METHODS: return FEATURE_METHODS[method][:1] if quick else FEATURE_METHODS[method]
    base = KD_METHODS[method]
    if method == 'DKD + LS':
        return [dict(chosen['DKD'], standardize=True, T=T) for T in ((2,) if quick else (1, 2, 4))]
    if method == 'DKD': settings = [dict(T=T, alpha=0.5, dkd_beta=b) for T in (1, 4) for b in (2, 8)]
    else: settings = [dict(T=T, alpha=a) for T in ((1, 2, 4) if method != 'DIST' else (1, 4)) for a in (0.5, 0.9)]
    return [dict(base, **s) for s in (settings[:1] if quick else settings)]

def tune(args, runs, models):
    "For each regime with its own hyperparameters and each method, the grid on seed 0 scored on the validation split"
    rows, chosen = [], {}
    for regime in ('full', 'scarce', 'semi'):
        key, teacher, _ = REGIMES[regime]
        chosen[regime] = {}
        if args.only is None:
            plain = run_key(runs, regime, 'plain', {}, [], models, 'labelled' if regime != 'full' else 'full', 0, args, valid=True)
            rows.append(dict(regime=regime, method='plain', hp={}, valid_accuracy=plain['acc']))
        for method in [m for m in (*KD_METHODS, *FEATURE_METHODS) if args.only is None or m in args.only]:
            scores = [(run_key(runs, regime, method, hp, [teacher], models, key, 0, args, valid=True)['acc'], i, hp)
                      for i, hp in enumerate(grid(method, chosen[regime], args.quick))]
            rows += [dict(regime=regime, method=method, hp=hp, valid_accuracy=acc) for acc, _, hp in scores]
            chosen[regime][method] = max(scores, key=lambda s: (s[0], -s[1]))[2]  # ties: the first setting
            print(f"  chose {method} for {regime}: {chosen[regime][method]} (valid {100 * max(scores)[0]:.2f})", flush=True)
    return rows, chosen

def run_key(runs, regime, method, hp, teacher_names, models, key, seed, args, valid):
    tag = f"{key}|{'+'.join(teacher_names) or '-'}|{method}|{json.dumps(hp, sort_keys=True)}|seed{seed}|{'valid' if valid else 'test'}"
    return runs.get(tag, lambda: run_method(method, hp, teacher_names, models, key, seed, args, valid))

def rows_of(regime, chosen, teacher_info):
    "The rows of a regime: (method shown, method run, settings, teachers, data key)"
    key, teacher, tuned = REGIMES[regime]
    plain_key = 'full' if key == 'full' else 'labelled'
    out = [(m, m, {}, [], plain_key) for m in TEACHER_FREE]
    if key == 'pool': out.append(('pseudo-labels', 'pseudo-labels', {}, [teacher], key))
    out += [(m, m, chosen[tuned][m], [teacher], key) for m in (*KD_METHODS, *FEATURE_METHODS) if m in chosen[tuned]]
    out += [(m, m, chosen[tuned][base], [teacher], key) for m, base in AUGMENTED.items()]
    if teacher == 'A' and 'B' in teacher_info:
        best = max('AB', key=lambda t: teacher_info[t]['accuracy'])
        out += [('KD, ensemble of 2 teachers', 'KD', chosen[tuned]['KD'], ['A', 'B'], key),
                (f'KD, its better member ({best})', 'KD', chosen[tuned]['KD'], [best], key)]
    return out

def summarise(rows, regime):
    "Each row against plain: difference and whether it exceeds the noise (the two rows' std combined)"
    plain = next(r for r in rows if r['regime'] == regime and r['method'] == 'plain')
    lines = []
    for r in rows:
        if r['regime'] != regime or r['method'] == 'plain': continue
        diff = compare(r, plain)
        lines.append(f"({regime}) {r['method']}: {100 * diff:+.2f} pp vs plain ({r['verdict']})")
    return lines

def main():
    args, start = parse(), begin(RESULTS)
    runs = Runs(RESULTS / f"methods_runs_{'quick_' if args.quick else ''}{args.n_train}x{args.epochs}ep.json")
    models, teacher_info = teachers(args, runs)
    print('teachers:', {k: f"{100 * v['accuracy']:.2f} %" for k, v in teacher_info.items()}, flush=True)
    grid_rows, chosen = tune(args, runs, models)
    before = json.loads(Path(args.out).read_text()) if args.only else None  # with --only: the results this run adds to
    if before:  # the settings chosen before, for the rows that reuse another method's (KD and DIST on augmented data)
        chosen = {regime: {**before['chosen'].get(regime, {}), **chosen.get(regime, {})} for regime in {**before['chosen'], **chosen}}
    rows = []
    for regime in REGIMES:
        for shown, method, hp, teacher_names, key in rows_of(regime, chosen, teacher_info):
            if args.only and shown not in args.only: continue
            fits = [run_key(runs, regime, method, hp, teacher_names, models, key, s, args, valid=False) for s in range(args.seeds)]
            accs = [f['acc'] for f in fits]
            row = dict(regime=regime, method=shown, hp=hp, teachers=teacher_names, accs=accs, mean=statistics.mean(accs),
                       teacher_accuracy={t: teacher_info[t]['accuracy'] for t in teacher_names},
                       std=statistics.stdev(accs) if len(accs) > 1 else 0., seconds_per_epoch=statistics.mean(f['s_per_epoch'] for f in fits))
            for extra in ('pseudo_label_accuracy', 'best_epoch'):
                if extra in fits[0]: row[extra] = [f[extra] for f in fits]
            rows.append(row)
            print(f"({regime}) {shown:<32} {100 * row['mean']:6.2f} ± {100 * row['std']:.2f}", flush=True)
    if args.only: grid_rows, rows, teacher_info = merged(args, before, grid_rows, rows, teacher_info)
    else:
        self_grid, self_chosen, self_rows = self_distillation(args, runs)  # last: the module came late
        grid_rows, rows = grid_rows + self_grid, rows + self_rows
        for regime, choice in self_chosen.items(): chosen[regime].update(choice)
    summary = [line for regime in REGIMES for line in summarise(rows, regime)]
    best = {regime: max((r for r in rows if r['regime'] == regime), key=lambda r: r['mean'])['method'] for regime in REGIMES}
    fit_minutes = sum(v['wall_s'] for v in runs.done.values()) / 60  # teachers included
    out = dict(teachers=teacher_info, student_params=n_params(simple_cnn(8)), seeds=args.seeds, epochs=args.epochs,
               n_train=args.n_train, n_labelled=args.n_labelled, valid_images=args.valid, grid=grid_rows, chosen=chosen,
               rows=rows, summary=summary, best=best, minutes_this_run=(time.perf_counter() - start) / 60,
               minutes=fit_minutes, command=' '.join(['python bench/methods.py'] + sys.argv[1:]),
               machine=f"{platform.machine()}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} thread(s), torch {torch.__version__}")
    if args.only:
        out['command'] = f"{before['command']}, then {out['command']}"  # its command and minutes are kept
        out['minutes'] = before['minutes'] + out['minutes']
    print('\n'.join(summary)); print('best per regime:', best); print(f"total {out['minutes']:.1f} min of fits")
    for path in [RESULTS / f"methods{'_quick' if args.quick else ''}.json"] + ([Path(args.out)] if args.out else []):
        Path(path).write_text(json.dumps(out, indent=1))

def merged(args, old, grid_rows, rows, teacher_info):
    "With --only: the rows and grid of `old` (the JSON at --out), those of the methods run here replaced or added"
    keep = lambda r: r['method'] not in args.only
    for r in old['rows']:  # the teachers each kept row was measured with, should those of this run differ (retrained)
        r.setdefault('teacher_accuracy', {t: old['teachers'][t]['accuracy'] for t in r['teachers']})
    teachers = {**old['teachers'], **teacher_info}
    return [r for r in old['grid'] if keep(r)] + grid_rows, [r for r in old['rows'] if keep(r)] + rows, teachers

## Self-distillation: no teacher (fastkd.self_distillation)

SELF_GRIDS = {'born-again': [dict(T=T, alpha=a) for T in (1, 4) for a in (0.5, 0.9)],  # scored on generation 1
              'early exits': [dict(T=3., alpha=a) for a in (0.3, 0.7)]}

def born_again_run(hp, key, seed, args, valid):
    "Test (or validation) accuracy of each born-again generation; generation 0 is the plain student, on the plain rows' data"
    from fastkd.self_distillation import born_again
    set_seed(seed)
    gen0 = student(data('full' if key == 'full' else 'labelled', seed, args, valid))
    secs = train(gen0, [], args.epochs)
    dls = data(key, seed, args, valid)
    learners = born_again(lambda: student(dls), lambda learn, cbs: train(learn, cbs, args.epochs), teacher=gen0, cache=True, **hp)
    return dict(accs=[score(learn) for learn in learners], acc=score(learners[-1]), s_per_epoch=secs)

def early_exit_run(hp, key, seed, args, valid):
    "Accuracy of the student (and of its exits) trained with early exits after its first two stages, taught by its own output"
    from fastkd.self_distillation import SelfDistillationCallback
    set_seed(seed)
    learn, cb = student(data(key, seed, args, valid)), SelfDistillationCallback(['2', '5'], **hp)
    secs = train(learn, [cb], args.epochs)
    exits = cb.exit_accuracies(learn)
    return dict(acc=exits['final'], exits=exits, s_per_epoch=secs)

def self_distillation(args, runs):
    "Born-again generations 1-2 and early exits in the regimes full, scarce and semi; their grids on seed 0, like the others'"
    run = {'born-again': born_again_run, 'early exits': early_exit_run}
    def one(method, hp, key, seed, valid):
        tag = f"{key}|-|{method}|{json.dumps(hp, sort_keys=True)}|seed{seed}|{'valid' if valid else 'test'}"
        return runs.get(tag, lambda: run[method](hp, key, seed, args, valid))
    grid_rows, chosen, rows = [], {}, []
    for regime in ('full', 'scarce', 'semi'):
        chosen[regime] = {}
        for method, settings in SELF_GRIDS.items():
            key = REGIMES[regime][0] if method == 'born-again' else 'full' if regime == 'full' else 'labelled'  # exits need labels
            settings = [dict(s, generations=1) if method == 'born-again' else s for s in (settings[:1] if args.quick else settings)]
            scores = [(one(method, hp, key, 0, True)['acc'], i, hp) for i, hp in enumerate(settings)]
            grid_rows += [dict(regime=regime, method=method, hp=hp, valid_accuracy=acc) for acc, _, hp in scores]
            best = max(scores, key=lambda s: (s[0], -s[1]))[2]
            chosen[regime][method] = best = dict(best, generations=2) if method == 'born-again' else best
            fits = [one(method, best, key, s, False) for s in range(args.seeds)]
            shown = [(f'born-again, generation {g}', [f['accs'][g] for f in fits]) for g in (1, 2)] if method == 'born-again' else \
                    [('early exits (self-distillation)', [f['acc'] for f in fits])]
            for name, accs in shown:
                row = dict(regime=regime, method=name, hp=best, teachers=[], accs=accs, mean=statistics.mean(accs),
                           std=statistics.stdev(accs) if len(accs) > 1 else 0., seconds_per_epoch=statistics.mean(f['s_per_epoch'] for f in fits))
                if method == 'born-again': row['generation_0'] = [f['accs'][0] for f in fits]
                else: row['exits'] = [f['exits'] for f in fits]
                rows.append(row)
                print(f"({regime}) {name:<32} {100 * row['mean']:6.2f} ± {100 * row['std']:.2f}", flush=True)
    return grid_rows, chosen, rows

if __name__ == '__main__': main()
