"""Int8 students on Fashion-MNIST: quantisation-aware distillation (QAT + KD) against post-training quantisation.

The teacher is the benchmarks' simple_cnn(32) trained on all 60,000 labelled training images (cached in bench/results/,
shared with bench/accuracy.py); the student is simple_cnn(16). Per seed, on N training images (default 20,000):
  student fp32                 KD from the teacher (fastkd's defaults), E epochs of one-cycle at 1e-2;
  student fp32 + KD epochs     that float student distilled Q epochs more at 1e-3: the float control of the fine-tunes;
  student int8 (PTQ)           that float student quantised by `quantize_student` (10 training batches);
  student int8 (QAT + KD)      that float student fine-tuned fake-quantised for Q epochs at 1e-3, QuantizationAwareCallback
                               with the KD callback, then converted;
  student int8 (QAT)           the same without a teacher (labels only).
The int8 rows keep the first conv (1 input channel, 9 products per output) in float32, `float_layers=['0']`: int8
makes that layer slower on CPUs; the latency-only row `student int8 (PTQ), every layer` shows the cost of quantising it.
Every row, the teacher too, is exported to ONNX: `distill_report(..., runtime='onnx')` gives the file size and the
accuracy on the 10,000 test images in ONNX Runtime; latency at batch 1 and 64 is ONNX Runtime's on one thread, the
models timed in turn (5 rounds of 20 timed calls, the median of the round medians), so that a busy machine slows every
row alike.

    python bench/quantize.py --out nbs/tutorials/benchmark_quantize.json   # about 30 minutes on one core
    python bench/quantize.py --quick                                       # a few minutes: small, 1 seed, 1 epoch
"""
import argparse, copy, json, platform, statistics, sys, tempfile, time, warnings
from pathlib import Path
import torch
warnings.filterwarnings('ignore')
from fastai.learner import Learner
from fastai.callback.schedule import fit_one_cycle
from fastai.metrics import accuracy
from fastai.torch_core import set_seed
from fastkd.data import fashion_mnist_dls
from fastkd.testing import simple_cnn
from fastkd.report import n_params, distill_report, plain_tensor, cpu_latency_ms
from fastkd.deploy import export_student, load_student
from fastkd.kd import KnowledgeDistillationCallback
from fastkd.quantize import QuantizationAwareCallback, quantize_student

from common import quiet, begin  # bench/common.py

RESULTS = Path(__file__).parent / 'results'
FLOAT, CONTROL, PTQ, QAT_KD, QAT, PTQ_ALL = ('student fp32', 'student fp32 + KD epochs', 'student int8 (PTQ)',
                                            'student int8 (QAT + KD)', 'student int8 (QAT)', 'student int8 (PTQ), every layer')
FIRST_CONV = ['0']  # kept in float32 in the int8 rows

def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true'); p.add_argument('--seeds', type=int, default=None)
    p.add_argument('--epochs', type=int, default=None, help='epochs of the float student (E)')
    p.add_argument('--qat-epochs', type=int, default=None, help='epochs of the fine-tunes (Q)')
    p.add_argument('--n-train', type=int, default=None); p.add_argument('--out', default=None)
    args = p.parse_args()
    args.seeds, args.epochs = args.seeds or (1 if args.quick else 3), args.epochs or (1 if args.quick else 8)
    args.qat_epochs, args.n_train = args.qat_epochs or (1 if args.quick else 3), args.n_train or (2000 if args.quick else 20_000)
    args.n_valid, args.rounds = (2000, 2) if args.quick else (None, 5)
    return args

def teacher_model(quick:bool):
    "The benchmarks' CNN teacher (bench/accuracy.py's checkpoint when it exists)"
    epochs, n = (1, 10_000) if quick else (6, None)
    ckpt, model = RESULTS / f"teacher_cnn32_{n or 60000}_{epochs}ep.pth", simple_cnn(32)
    if ckpt.exists(): model.load_state_dict(torch.load(ckpt)); return model, 'cached'
    set_seed(0)
    learn = quiet(Learner(fashion_mnist_dls(n_train=n, bs=128), model, metrics=accuracy))
    start = time.perf_counter()
    with learn.no_logging(): learn.fit_one_cycle(epochs, 1e-2)
    torch.save(model.state_dict(), ckpt)
    return model, f'trained in {time.perf_counter() - start:.0f}s'

def fit(dls, model, epochs:int, lr:float, cbs:list)->tuple:
    "A fitted Learner and its history (one dict per epoch: the Recorder's columns)"
    learn = quiet(Learner(dls, model, metrics=accuracy, cbs=cbs))
    start = time.perf_counter()
    with learn.no_logging(): learn.fit_one_cycle(epochs, lr)
    names = learn.recorder.metric_names[1:-1]
    history = [dict(zip(names, map(float, values))) for values in learn.recorder.values]
    return learn, dict(history=history, seconds=time.perf_counter() - start)

def one_seed(seed:int, teacher, args)->dict:
    "Every row of one seed: fits, quantisation, then the ONNX Runtime report"
    set_seed(seed)
    dls = fashion_mnist_dls(n_train=args.n_train, n_valid=args.n_valid, bs=128, seed=seed)
    kd = lambda: KnowledgeDistillationCallback(teacher)
    fits = {}
    float_learn, fits[FLOAT] = fit(dls, simple_cnn(16), args.epochs, 1e-2, [kd()])
    finetune = lambda cbs: fit(dls, copy.deepcopy(float_learn.model), args.qat_epochs, 1e-3, cbs)
    control, fits[CONTROL] = finetune([kd()])
    qat_kd, fits[QAT_KD] = finetune([QuantizationAwareCallback(float_layers=FIRST_CONV), kd()])
    qat, fits[QAT] = finetune([QuantizationAwareCallback(float_layers=FIRST_CONV)])
    start = time.perf_counter()
    ptq = quantize_student(float_learn, n_batches=10, float_layers=FIRST_CONV)
    fits[PTQ] = dict(history=[], seconds=time.perf_counter() - start)
    models = {FLOAT: float_learn, CONTROL: control, PTQ: ptq, QAT_KD: qat_kd, QAT: qat, PTQ_ALL: quantize_student(float_learn, n_batches=10)}
    xb = plain_tensor(dls.valid.one_batch()[0])[:64]
    table = distill_report(teacher, models, xb, dls, batch_sizes=(), runtime='onnx', n_threads=1, show=False)
    rows = {name: {k: float(v) for k, v in table[name].items()} for name in table.columns}
    for name, ms in latencies({'teacher': teacher, **models}, xb, args.rounds).items(): rows[name].update(ms)
    for name, f in fits.items(): rows[name].update(f)
    return rows

def latencies(models:dict, xb, rounds:int)->dict:
    "ONNX Runtime's latency of each model on one thread at batch 1 and 64: models timed in turn, median of the round medians"
    with tempfile.TemporaryDirectory() as d:
        students = {name: load_student(export_student(m, xb, Path(d) / f'{i}.onnx', format='onnx'), n_threads=1) for i, (name, m) in enumerate(models.items())}
        times = {(name, bs): [] for name in students for bs in (1, 64)}
        for _ in range(rounds):
            for (name, bs), ms in times.items(): ms.append(cpu_latency_ms(students[name], xb, bs, repeats=20, warmup=3))
    return {name: {f'CPU latency, batch {bs} (ms)': statistics.median(times[name, bs]) for bs in (1, 64)} for name in students}

def mean_std(values:list)->dict:
    return dict(mean=statistics.mean(values), std=statistics.stdev(values) if len(values) > 1 else 0., values=values)

def summary(runs:list)->dict:
    "Mean and std over seeds of every measured row"
    measures = ['parameters', 'size on disk (MB)', 'CPU latency, batch 1 (ms)', 'CPU latency, batch 64 (ms)', 'accuracy']
    return {name: {m: mean_std([run[name][m] for run in runs]) for m in measures} for name in runs[0]}

def goals(runs:list)->list:
    "The issue's four goals, each as the mean over seeds of its per-seed ratio or difference"
    def per_seed(fn): return mean_std([fn(run) for run in runs])
    lat, size, acc = 'CPU latency, batch 64 (ms)', 'size on disk (MB)', 'accuracy'
    rows = [('latency at batch 64, int8 QAT+KD / fp32 student', '<= 0.5', lambda r: r[QAT_KD][lat] / r[FLOAT][lat], lambda v: v <= 0.5),
            ('size on disk, int8 QAT+KD / fp32 student', '<= 0.3', lambda r: r[QAT_KD][size] / r[FLOAT][size], lambda v: v <= 0.3),
            ('speed-up at batch 64, fp32 teacher / int8 QAT+KD', '>= 10', lambda r: r['teacher'][lat] / r[QAT_KD][lat], lambda v: v >= 10),
            ('accuracy, fp32 KD student - int8 QAT+KD (pp)', '<= 0.5', lambda r: 100 * (r[FLOAT][acc] - r[QAT_KD][acc]), lambda v: v <= 0.5)]
    return [dict(goal=goal, target=target, reached=per_seed(fn), met=bool(met(per_seed(fn)['mean']))) for goal, target, fn, met in rows]

def cpu()->tuple:
    "The CPU's model name and whether it has VNNI instructions (what ONNX Runtime's int8 kernels run fastest with)"
    try: info = Path('/proc/cpuinfo').read_text()
    except OSError: return platform.processor(), None
    name = next((l.split(':', 1)[1].strip() for l in info.splitlines() if l.startswith('model name')), platform.processor())
    return name, any(flag in info for flag in ('avx512_vnni', 'avx_vnni', 'amx_int8'))

if __name__ == '__main__':
    args = parse()
    start = begin(RESULTS)
    import onnxruntime, torchao
    teacher, how = teacher_model(args.quick)
    name, vnni = cpu()
    out = dict(command=' '.join(['python bench/quantize.py'] + sys.argv[1:]), cpu=name, vnni=vnni, threads=1,
               versions=dict(torch=torch.__version__, torchao=torchao.__version__, onnxruntime=onnxruntime.__version__),
               teacher=dict(params=n_params(teacher), trained=how), student_params=n_params(simple_cnn(16)),
               n_train=args.n_train, epochs=args.epochs, qat_epochs=args.qat_epochs, seeds=args.seeds, runs=[])
    print(f"{name} (VNNI: {vnni}); teacher {out['teacher']['params']:,} params ({how}), student {out['student_params']:,}")
    for seed in range(args.seeds):
        out['runs'].append(one_seed(seed, teacher, args))
        for row, r in out['runs'][-1].items():
            print(f"seed {seed} {row:<38} {100 * r['accuracy']:6.2f} %  {r['size on disk (MB)']:.3f} MB  "
                  f"{r['CPU latency, batch 1 (ms)']:.3f} / {r['CPU latency, batch 64 (ms)']:.3f} ms", flush=True)
    out['summary'], out['goals'], out['minutes'] = summary(out['runs']), goals(out['runs']), (time.perf_counter() - start) / 60
    for g in out['goals']: print(f"{g['goal']:<52} target {g['target']:<6} reached {g['reached']['mean']:.3f} ± {g['reached']['std']:.3f}  {'met' if g['met'] else 'not met'}")
    print(f"total {out['minutes']:.1f} min")
    for path in [RESULTS / ('quantize_quick.json' if args.quick else 'quantize.json')] + ([Path(args.out)] if args.out else []):
        Path(path).write_text(json.dumps(out, indent=1))
