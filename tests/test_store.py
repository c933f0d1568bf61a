"""A soft-label store in a folder, recorded by one process and replayed by another (fresh) one: tests/store_worker.py.

The second process runs the teacher once (the check on its first replayed batch), sees bit-identical inputs, batch for
batch, under a random item transform, fastai's aug_transforms and MixUp, and gets the teacher's exact outputs as its
KD targets (10 classes, stored in fp32).
"""
import os, subprocess, sys, torch
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / 'tests' / 'store_worker.py'

def run_worker(store, out, processes=1, timeout=180):
    "The worker in one process, or in `processes` processes under torch.distributed.run"
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONPATH=str(ROOT), PYTHONWARNINGS='ignore')
    launch = [sys.executable] if processes == 1 else [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', str(processes)]
    res = subprocess.run(launch + [str(WORKER), str(store), str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return [torch.load(out / f'rank{r}.pt', weights_only=False) for r in range(processes)]

def test_a_store_recorded_in_one_process_replays_in_another(tmp_path):
    store = tmp_path / 'store'
    (recorded,), (replayed,) = run_worker(store, tmp_path / 'first'), run_worker(store, tmp_path / 'second')
    assert recorded['error'] is None and replayed['error'] is None, (recorded['error'], replayed['error'])
    n = len(recorded['inputs']) // 2
    assert n == 1437 // 32 and recorded['per_epoch'] == [n, n] and replayed['per_epoch'] == [1, 0]
    assert len(replayed['inputs']) == 2 * n and all(torch.equal(a, b) for a, b in zip(recorded['inputs'], replayed['inputs']))
    assert not torch.equal(recorded['inputs'][0], recorded['inputs'][n])  # two epochs, two views
    assert all(recorded['match']) and all(replayed['match'])
    assert sorted(p.name for p in (store / 'rank0').iterdir()) == ['manifest.json', 'view0', 'view1']
