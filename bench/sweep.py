"""Regime (a), full labels: sweep T and alpha, and try a longer ("patient") schedule, choosing on a validation split.

The validation split is 5,000 images held out from the training set (`fashion_mnist_dls(valid_from_train=5000)`);
the test set is never looked at here. Uses the teacher checkpoint that bench/accuracy.py caches in bench/results/.

    python bench/sweep.py [--out nbs/tutorials/benchmark_sweep.json]
"""
import argparse, json, time, warnings
from pathlib import Path
import torch
warnings.filterwarnings('ignore')
from fastai.learner import Learner
from fastai.callback.schedule import fit_one_cycle
from fastai.metrics import accuracy
from fastai.torch_core import set_seed
from fastkd.data import fashion_mnist_dls
from fastkd.testing import simple_cnn
from fastkd.kd import KnowledgeDistillationCallback
from common import use_threads  # bench/common.py

def fit(dls, cbs, epochs, seed=0):
    set_seed(seed)
    learn = Learner(dls, simple_cnn(8), metrics=accuracy)
    learn.remove_cbs(learn.cbs.filter(lambda cb: type(cb).__name__ == 'ProgressCallback'))
    with learn.no_logging(): learn.fit_one_cycle(epochs, 1e-2, cbs=cbs)
    with learn.no_bar(), learn.no_logging(): return learn.validate()[1]

if __name__ == '__main__':
    p = argparse.ArgumentParser(); p.add_argument('--out', default=None); p.add_argument('--epochs', type=int, default=5)
    args = p.parse_args()
    use_threads()
    ckpt = sorted((Path(__file__).parent / 'results').glob('teacher_cnn32_60000_*ep.pth'))
    assert ckpt, 'run bench/accuracy.py first: it trains and caches the teacher'
    teacher = simple_cnn(32); teacher.load_state_dict(torch.load(ckpt[-1]))
    dls = fashion_mnist_dls(n_train=20_000, valid_from_train=5000, bs=128)
    rows, start = [], time.perf_counter()
    def record(name, T, alpha, epochs, acc):
        rows.append(dict(config=name, T=T, alpha=alpha, epochs=epochs, valid_accuracy=acc))
        print(f"{name:<12} T={T!s:<4} alpha={alpha!s:<4} epochs={epochs:<3} valid {100 * acc:.2f}", flush=True)
    record('plain', None, None, args.epochs, fit(dls, [], args.epochs))
    for T in (1, 2, 4, 8):
        for alpha in (0.5, 0.9):
            record('KD', T, alpha, args.epochs, fit(dls, [KnowledgeDistillationCallback(teacher, T=T, alpha=alpha)], args.epochs))
    best = max((r for r in rows if r['config'] == 'KD'), key=lambda r: r['valid_accuracy'])
    patient = 3 * args.epochs
    record('plain', None, None, patient, fit(dls, [], patient))
    record('KD, patient', best['T'], best['alpha'], patient,
           fit(dls, [KnowledgeDistillationCallback(teacher, T=best['T'], alpha=best['alpha'], cache=True)], patient))
    out = dict(rows=rows, best=best, minutes=(time.perf_counter() - start) / 60, validation='5,000 training images held out')
    print(f"best KD on validation: T={best['T']}, alpha={best['alpha']}; {out['minutes']:.1f} min")
    for path in [Path(__file__).parent / 'results' / 'sweep.json'] + ([Path(args.out)] if args.out else []):
        Path(path).write_text(json.dumps(out, indent=1))
