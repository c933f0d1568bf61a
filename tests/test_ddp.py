"""fastkd under fastai's distributed path (`learn.distrib_ctx()`): 2 CPU processes (gloo) against one process.

The worker (tests/ddp_worker.py) trains an MLP student with `KnowledgeDistillationCallback` and a
`FeatureHintCallback` whose hint needs a learned `nn.Linear` adapter (32 student features vs 128 teacher features).
Each rank gets batches of B items (`DistributedDL` gives rank r a contiguous half of the unshuffled items); the
reference run uses batches of 2B whose step-t batch is the union of the two ranks' step-t batches. Every loss is a
mean over the items, so the reference loss at step t is the mean of the ranks' losses, and DDP's gradient average
(fastkd's, for the adapter) is the reference gradient: the runs differ only by float rounding.
"""
import os, signal, subprocess, sys, time, pytest
sys.path.insert(0, os.path.dirname(__file__))  # test_store.run_worker
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / 'tests' / 'ddp_worker.py'
TIMEOUT = 120  # seconds for both runs together; they take ~30s on 2 busy cores

torch = pytest.importorskip('torch')
pytest.importorskip('accelerate')  # fastai's `distrib_ctx` needs it
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip('torch.distributed with the gloo backend is not available', allow_module_level=True)

# Tolerances. Same float32 arithmetic, different batch partition: the reference sums 2B items where each rank sums B
# and the ranks' values are then averaged, so results differ by rounding only (observed: ~3e-7 on losses of ~1.4,
# ~2e-8 on weights after 20 SGD steps). The bounds leave a 30-50x margin on both sides: dropping fastkd's adapter
# gradient average moves the losses by 1.6e-4 (relative) and the student's weights by 3e-5; dropping its broadcast of
# rank 0's adapter, by 1e-2 and more.
LOSS_RTOL = 1e-5     # reference loss vs mean of the ranks' losses, per step
WEIGHT_ATOL = 1e-6   # DDP weights (student and adapter) vs reference weights
# Across ranks: DDP and fastkd all-reduce the same gradients, so every rank applies the same update: bit-identical.

def _start(cmd):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONPATH=str(ROOT),
               PYTHONWARNINGS='ignore')  # fastai/torch deprecation chatter
    # a session of its own, so that a timeout can stop torch.distributed.run's workers along with it
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)

def _wait(proc, what, deadline):
    try: out, _ = proc.communicate(timeout=max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL); out, _ = proc.communicate()
        pytest.fail(f"{what} timed out after {TIMEOUT}s:\n{out[-3000:]}")
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}):\n{out[-3000:]}"

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp('ddp')
    start = time.monotonic()
    # `--standalone` picks a free rendezvous port on localhost, so parallel test runs do not collide
    ddp = _start([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
                  str(WORKER), str(out)])
    ref = _start([sys.executable, str(WORKER), str(out), '--reference'])
    try:
        _wait(ref, 'single-process reference run', start + TIMEOUT)
        _wait(ddp, 'torch.distributed.run with 2 processes', start + TIMEOUT)
    finally:
        for p in (ddp, ref):
            if p.poll() is None: os.killpg(p.pid, signal.SIGKILL); p.communicate()
    print(f"ddp + reference runs: {time.monotonic() - start:.1f}s")
    load = lambda name: torch.load(out / f'{name}.pt', weights_only=False)
    return load('rank0'), load('rank1'), load('reference')

def test_ranks_saw_different_halves(runs):
    r0, r1, ref = runs
    assert len(r0['losses']) == len(r1['losses']) == len(ref['losses']) == 20
    assert abs(r0['losses'][0] - r1['losses'][0]) > 1e-3

def test_losses_match_single_process(runs):
    r0, r1, ref = runs
    mean = (torch.tensor(r0['losses'], dtype=torch.float64) + torch.tensor(r1['losses'], dtype=torch.float64)) / 2
    torch.testing.assert_close(mean, torch.tensor(ref['losses'], dtype=torch.float64), rtol=LOSS_RTOL, atol=0)

@pytest.mark.parametrize('part', ['student', 'adapters'])
def test_weights_identical_across_ranks_and_match_single_process(runs, part):
    r0, r1, ref = runs
    assert r0[part].keys() == r1[part].keys() == ref[part].keys() and r0[part]
    for k in r0[part]:
        assert torch.equal(r0[part][k], r1[part][k]), f"{part} {k} differs between ranks"
        torch.testing.assert_close(r0[part][k], ref[part][k], rtol=0, atol=WEIGHT_ATOL, msg=f"{part} {k} vs reference")
    moved = max((r0[part][k] - r0[f'{part}_init'][k]).abs().max().item() for k in r0[part])
    assert moved > 1e-2, f"training hardly moved the {part}: the comparison above would prove little"

def test_rank0_adapter_is_broadcast(runs):
    "Each rank seeded its adapter differently; all start from rank 0's, as DDP does for the student"
    r0, r1, ref = runs
    for k in r0['adapters_init']:
        assert torch.equal(r0['adapters_init'][k], r1['adapters_init'][k])
        assert torch.equal(r0['adapters_init'][k], ref['adapters_init'][k])

def test_teacher_unwrapped_on_each_rank_and_fit_leaves_nothing(runs):
    for r in runs[:2]:
        # during the fit: student in DDP, teacher a plain module on the rank's device
        assert r['seen'] == [('DistributedDataParallel', 'Sequential', 'cpu', 'cpu')]
        assert r['model_type'] == 'Sequential' and not r['teacher_is_ddp']  # after: DDP unwrapped
        assert r['hooks'] == [] and r['fits'] == 0 and r['opt_params'] == 4  # no hook, no fit state, adapter out of the optimiser
        assert r['teacher_training'] and all(r['teacher_grad'])  # teacher's modes and flags given back

def test_accelerate_launch_starts_two_cpu_processes(tmp_path):
    "The README's accelerate command for CPUs: `--multi_gpu` starts both processes even without a GPU (`--cpu` starts one)"
    accelerate = Path(sys.executable).parent / 'accelerate'
    if not accelerate.exists(): pytest.skip('accelerate is not installed')
    start = time.monotonic()
    proc = _start([str(accelerate), 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
                   '--mixed_precision', 'no', '--dynamo_backend', 'no', str(WORKER), str(tmp_path)])
    _wait(proc, 'accelerate launch with 2 processes', start + TIMEOUT)
    r0, r1 = (torch.load(tmp_path / f'rank{r}.pt', weights_only=False) for r in (0, 1))
    assert abs(r0['losses'][0] - r1['losses'][0]) > 1e-3  # two processes, each on its half
    for k in r0['student']: assert torch.equal(r0['student'][k], r1['student'][k]), k

def test_each_rank_records_and_replays_its_own_store_shard(tmp_path):
    "A soft-label store in a folder under 2 gloo processes: a shard per rank, replayed per rank; 1 process is refused"
    from test_store import run_worker
    store = tmp_path / 'store'
    recorded = run_worker(store, tmp_path / 'first', processes=2, timeout=TIMEOUT)
    replayed = run_worker(store, tmp_path / 'second', processes=2, timeout=TIMEOUT)
    for rec, rep in zip(recorded, replayed):
        assert rec['error'] is None and rep['error'] is None, (rec['error'], rep['error'])
        n = len(rec['inputs']) // 2
        assert n == (1437 // 32 + 1) // 2 and rec['per_epoch'] == [n, n] and rep['per_epoch'] == [1, 0]
        assert all(torch.equal(a, b) for a, b in zip(rec['inputs'], rep['inputs'])) and all(rec['match']) and all(rep['match'])
    assert not torch.equal(recorded[0]['inputs'][0], recorded[1]['inputs'][0])  # each rank its own items
    assert sorted(p.name for p in store.iterdir()) == ['rank0', 'rank1']
    (alone,) = run_worker(store, tmp_path / 'alone', processes=1)
    assert 'was recorded by 2 process(es), this fit runs 1' in alone['error']
