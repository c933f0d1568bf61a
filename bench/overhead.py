"""Overhead of fastkd's callbacks against plain training, the teacher's own cost, and fasterai's KD callback.

Same batches, same student, one process, configurations interleaved, several repeats, medians. Prints the ratios
the benchmarks page reports, the teacher's inference speed eager, compiled (`torch.compile`) and channels-last, and
KD with `compile_teacher=True` (its compile time, paid once per process, is measured in a warm-up fit). Peak memory is measured per configuration in a fresh subprocess (CPU: peak RSS growth
during the fit; CUDA: torch.cuda.max_memory_allocated).

    python bench/overhead.py                  # CPU, Fashion-MNIST subset (Debian dataset-fashion-mnist)
    python bench/overhead.py --quick          # fewer batches and repeats
    python bench/overhead.py --device cuda --bf16 --arch resnet   # the GPU variant (bench/gpu.sh)
"""
import argparse, copy, json, os, statistics, subprocess, sys, threading, time, warnings
import torch, torch.nn as nn
warnings.filterwarnings('ignore')
from fastai.learner import Learner
from fastai.callback.core import Callback
from fastai.losses import CrossEntropyLossFlat
from fastkd.data import fashion_mnist_dls, arrays_dls
from fastkd.testing import simple_cnn
from fastkd.kd import KnowledgeDistillationCallback
from fastkd.hints import FeatureHintCallback
from fastkd.attention import AttentionTransferCallback
from common import use_threads  # bench/common.py

def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true'); p.add_argument('--device', default='cpu')
    p.add_argument('--bf16', action='store_true'); p.add_argument('--arch', default='cnn', choices=['cnn', 'resnet'])
    p.add_argument('--repeats', type=int, default=None); p.add_argument('--n-train', type=int, default=None)
    p.add_argument('--bs', type=int, default=None); p.add_argument('--memory-config', default=None, help=argparse.SUPPRESS)
    p.add_argument('--out', default=None, help='also write the results as JSON here')
    return p.parse_args()

def models(arch, n_classes=10):
    "Teacher and student: small CNNs on 28x28 (CPU), or resnet50 -> resnet18 at 64x64 (GPU, as in the issue)"
    if arch == 'cnn': return simple_cnn(32, n_classes), simple_cnn(8, n_classes), (['2', '5'], ['2', '5'])
    from torchvision.models import resnet18, resnet50
    return resnet50(num_classes=n_classes), resnet18(num_classes=n_classes), (['layer2', 'layer3'], ['layer2', 'layer3'])

def data(args):
    if args.arch == 'cnn':
        n = args.n_train or (1024 if args.quick else 4096)
        return fashion_mnist_dls(n_train=n, n_valid=128, bs=args.bs or 128, device=torch.device(args.device))
    n, size = args.n_train or (2048 if args.quick else 8192), 64  # synthetic 64x64 RGB, 100 classes, as in the GPU run
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(n, 3, size, size, generator=g), torch.randint(0, 100, (n,), generator=g)
    return arrays_dls(x, y, x[:256], y[:256], [str(i) for i in range(100)], bs=args.bs or 256, device=torch.device(args.device))

class NoValidate(Callback):
    "Skip validation: the overhead measured is the training loop's"
    order = 100
    def before_validate(self): raise __import__('fastai').callback.core.CancelValidException()

class EpochTimes(Callback):
    order = 101
    def before_fit(self): self.times = []
    def before_train(self): self._sync(); self.start = time.perf_counter()
    def after_train(self): self._sync(); self.times.append(time.perf_counter() - self.start)
    def _sync(self):
        if torch.cuda.is_available() and self.learn.dls.device.type == 'cuda': torch.cuda.synchronize()

def fasterai_cb(teacher):
    from fasterai.distill.all import KnowledgeDistillationCallback as FasteraiKD, SoftTarget
    return FasteraiKD(teacher, SoftTarget, weight=0.5)

CONFIGS = {
    'student': lambda t, layers: [],
    'kd': lambda t, layers: [KnowledgeDistillationCallback(t, T=4, alpha=0.5)],
    'kd_cached': lambda t, layers: [KnowledgeDistillationCallback(t, T=4, alpha=0.5, cache=True)],
    'kd_compiled': lambda t, layers: [KnowledgeDistillationCallback(t, T=4, alpha=0.5, compile_teacher=True)],
    'fasterai': lambda t, layers: [fasterai_cb(t)],
    'hints': lambda t, layers: [FeatureHintCallback(t, *layers, weight=0.1)],
    'at': lambda t, layers: [AttentionTransferCallback(t, *layers)],
}

def fit_time(args, dls, teacher, student_fn, layers, name, epochs=1):
    "Seconds per training epoch of one fit (validation skipped); all epochs' times"
    torch.manual_seed(0)
    learn = Learner(dls, student_fn().to(args.device), loss_func=CrossEntropyLossFlat())
    learn.remove_cbs(learn.cbs.filter(lambda cb: type(cb).__name__ == 'ProgressCallback'))
    if args.bf16: learn.to_bf16()
    timer = EpochTimes()
    with learn.no_logging(): learn.fit(epochs, 1e-3, cbs=CONFIGS[name](teacher, layers) + [NoValidate(), timer])
    return timer.times

def teacher_time(args, dls, teacher, channels_last=False):
    "Seconds of the teacher's inference over a training epoch's batches (inputs converted to channels-last if asked)"
    teacher.eval()
    if args.device == 'cuda': torch.cuda.synchronize()
    start = time.perf_counter()
    ctx = torch.autocast('cuda', dtype=torch.bfloat16) if args.bf16 and args.device == 'cuda' else torch.autocast('cpu', enabled=False)
    with torch.no_grad(), ctx:
        for xb, _ in dls.train:
            xb = xb.as_subclass(torch.Tensor)  # as fastkd gives it to the teacher
            teacher(xb.contiguous(memory_format=torch.channels_last) if channels_last else xb)
    if args.device == 'cuda': torch.cuda.synchronize()
    return time.perf_counter() - start

def teacher_variants(teacher):
    "The teacher's inference as KD runs it: eager, channels-last, compiled, compiled channels-last (copies of the teacher)"
    cl = lambda: copy.deepcopy(teacher).to(memory_format=torch.channels_last)
    return {'teacher': (teacher, False), 'teacher_channels_last': (cl(), True),
            'teacher_compiled': (torch.compile(copy.deepcopy(teacher).eval()), False),
            'teacher_compiled_channels_last': (torch.compile(cl().eval()), True)}

def rss_bytes():
    with open('/proc/self/statm') as f: return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')

class PeakRSS:
    "Peak resident memory growth over a block, sampled every millisecond by a thread (Linux)"
    def __enter__(self):
        self.base = self.peak = rss_bytes(); self.done = False
        self.thread = threading.Thread(target=self._sample, daemon=True); self.thread.start(); return self
    def _sample(self):
        while not self.done: self.peak = max(self.peak, rss_bytes()); time.sleep(0.001)
    def __exit__(self, *exc):
        self.done = True; self.thread.join(); self.growth_mib = (self.peak - self.base) / 2**20

def memory_of(args, name):
    "Peak memory growth of one fit, measured in a fresh process"
    cmd = [sys.executable, __file__, '--memory-config', name, '--device', args.device, '--arch', args.arch]
    cmd += ['--quick'] * args.quick + ['--bf16'] * args.bf16 + (['--n-train', str(args.n_train)] if args.n_train else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    return json.loads(out)

def measure_memory(args):
    "Child process: build everything, then report the fit's peak memory growth (MiB) and the teacher's weight size"
    dls = data(args); teacher, student, layers = models(args.arch)
    teacher = teacher.to(args.device)
    weights_mib = sum(p.numel() * p.element_size() for p in teacher.parameters()) / 2**20
    if args.memory_config == 'student': del teacher; teacher = None
    if args.device == 'cuda':
        torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
        fit_time(args, dls, teacher, lambda: models(args.arch)[1], layers, args.memory_config)
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        with PeakRSS() as rss: fit_time(args, dls, teacher, lambda: models(args.arch)[1], layers, args.memory_config)
        peak = rss.growth_mib
    print(json.dumps(dict(peak_mib=peak, teacher_weights_mib=weights_mib)))

def main():
    args = parse()
    if args.memory_config: return measure_memory(args)
    use_threads()
    dls = data(args); teacher, _, layers = models(args.arch); teacher = teacher.to(args.device)
    student_fn = lambda: models(args.arch)[1]
    try: fasterai_cb(teacher); names = list(CONFIGS)
    except ImportError: names = [n for n in CONFIGS if n != 'fasterai']; print('fasterai not installed: pip install -e .[bench]')
    repeats = args.repeats or (2 if args.quick else 3)
    variants = teacher_variants(teacher)
    times = {n: [] for n in names + list(variants)}; cached_later = []
    fit_time(args, dls, teacher, student_fn, layers, 'student')  # warm-up
    compile_s = {}
    for name, (model, cl) in variants.items():  # the compiled ones compile here
        start = time.perf_counter(); teacher_time(args, dls, model, cl); compile_s[name] = time.perf_counter() - start
    start = time.perf_counter(); fit_time(args, dls, teacher, student_fn, layers, 'kd_compiled')
    compile_s['kd_compiled'] = time.perf_counter() - start
    for r in range(repeats):
        for n in names:
            if n == 'kd_cached':
                epochs = fit_time(args, dls, teacher, student_fn, layers, n, epochs=3)
                times[n].append(epochs[0]); cached_later.append(statistics.median(epochs[1:]))
            else: times[n].append(fit_time(args, dls, teacher, student_fn, layers, n)[0])
        for name, (model, cl) in variants.items(): times[name].append(teacher_time(args, dls, model, cl))
    med = {n: statistics.median(v) for n, v in times.items()}
    compile_s = {n: t - med[n] for n, t in compile_s.items()}  # the first run's time beyond the steady one
    med['kd_cached_later'] = statistics.median(cached_later)
    n_img = len(dls.train) * dls.train.bs
    print(f"\nfastkd overhead benchmark: {args.arch} on {args.device}{' bf16' if args.bf16 else ''}, {n_img} images/epoch, "
          f"{repeats} repeats, medians, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'configuration':<32}{'s/epoch':>10}{'img/s':>10}{'vs student':>12}")
    for n in ['student', *variants] + [n for n in names if n != 'student'] + ['kd_cached_later']:
        print(f"{n:<32}{med[n]:>10.3f}{n_img / med[n]:>10.0f}{med[n] / med['student']:>12.2f}")
    print(f"compile time (first run minus a steady one): " + ', '.join(f"{n} {t:.1f}s" for n, t in compile_s.items() if 'compiled' in n))
    both = med['student'] + med['teacher']
    ratios = {'t_kd / (t_student + t_teacher)': med['kd'] / both,
              't_hints / (t_student + t_teacher)': med['hints'] / both,
              't_at / (t_student + t_teacher)': med['at'] / both,
              't_kd_compiled / (t_student + t_teacher)': med['kd_compiled'] / both,
              't_teacher_compiled / t_teacher': med['teacher_compiled'] / med['teacher'],
              't_teacher_channels_last / t_teacher': med['teacher_channels_last'] / med['teacher'],
              't_teacher_compiled_channels_last / t_teacher': med['teacher_compiled_channels_last'] / med['teacher'],
              't_kd_cached(epoch 2+) / t_student': med['kd_cached_later'] / med['student']}
    if 'fasterai' in med: ratios['t_kd / t_fasterai'] = med['kd'] / med['fasterai']
    print('\nratios (goals: kd <= 1.05, hints <= 1.20, at <= 1.05, kd compiled < 1.0, kd/fasterai <= 0.8, cached <= 1.10)')
    for k, v in ratios.items(): print(f"  {k:<48}{v:.3f}")
    print('\npeak memory growth during one fit (MiB), each in a fresh process')
    mems = {n: memory_of(args, n) for n in ['student', 'kd'] + (['fasterai'] if 'fasterai' in names else []) + ['hints', 'at']}
    for n, m in mems.items(): print(f"  {n:<12}{m['peak_mib']:>10.1f}")
    print(f"  KD extra over the plain student: {mems['kd']['peak_mib'] - mems['student']['peak_mib']:.1f} MiB; "
          f"teacher weights: {mems['kd']['teacher_weights_mib']:.2f} MiB")
    result = dict(medians=med, ratios=ratios, memory=mems, compile_s=compile_s, images_per_epoch=n_img, repeats=repeats, arch=args.arch,
                  device=args.device, bf16=args.bf16, threads=torch.get_num_threads(), torch=torch.__version__,
                  command=' '.join(['python bench/overhead.py'] + sys.argv[1:]))
    print(json.dumps(result))
    if args.out: open(args.out, 'w').write(json.dumps(result, indent=1))

if __name__ == '__main__': main()
