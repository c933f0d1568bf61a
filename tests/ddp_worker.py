"""Worker for tests/test_ddp.py: distil a small MLP on digits, on CPU, with fastai's `learn.distrib_ctx()`.

Launched as `python -m torch.distributed.run --standalone --nproc_per_node 2 tests/ddp_worker.py OUT` (or
`accelerate launch --multi_gpu --num_processes 2 tests/ddp_worker.py OUT`; gloo backend on CPU), each rank
trains on its half of every global batch and saves what it saw to OUT/rank{r}.pt. Run without a launcher
(`python tests/ddp_worker.py OUT --reference`), it trains the same models in one process on the same global
batches (twice the per-rank batch size) and saves OUT/reference.pt.
"""
import argparse, os, torch
from pathlib import Path
from torch import nn
from torch.nn.parallel import DistributedDataParallel

B, N_TRAIN, N_VALID, EPOCHS, LR, SEED = 16, 320, 64, 2, 0.1, 0  # 320 = 10 global batches of 2*B

def models():
    "A fixed, seeded teacher and a student, both without BatchNorm; the hinted student layer is narrower (32 vs 128)"
    torch.manual_seed(SEED)
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    student = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    return teacher, student

def global_order(n:int, world:int, bs:int)->torch.Tensor:
    "Item order whose step-t batch of `world*bs` items is the union of the ranks' step-t batches under `DistributedDL`"
    per_rank = n // world  # `DistributedDL.get_idxs` gives rank r the contiguous slice [r*n/world, (r+1)*n/world)
    return torch.cat([torch.arange(r * per_rank + t * bs, r * per_rank + (t + 1) * bs)
                      for t in range(per_rank // bs) for r in range(world)])

def dataloaders(world:int, reference:bool):
    from fastai.data.core import DataLoaders, TfmdDL
    from fastkd.data import ArrayDataset, digits_dls
    src = digits_dls(device='cpu')
    x, y = src.train_ds.x[:N_TRAIN], src.train_ds.y[:N_TRAIN]
    assert N_TRAIN % (world * B) == 0
    bs = B
    if reference: order, bs = global_order(N_TRAIN, world, B), world * B; x, y = x[order], y[order]
    vocab, stats = src.train_ds.vocab, src.train_ds.stats
    train = TfmdDL(ArrayDataset(x, y, vocab, stats), bs=bs, shuffle=False, drop_last=True, device='cpu')
    valid = TfmdDL(ArrayDataset(src.valid_ds.x[:N_VALID], src.valid_ds.y[:N_VALID], vocab, stats), bs=bs, device='cpu')
    return DataLoaders(train, valid, device='cpu')

def main(out:Path, reference:bool, world:int):
    from fastai.callback.core import Callback
    import fastai.callback.progress  # noqa: F401 (adds `Learner.no_bar`)
    import fastai.distributed  # noqa: F401 (adds `Learner.distrib_ctx`)
    from fastai.learner import Learner
    from fastai.optimizer import SGD
    from fastai.losses import CrossEntropyLossFlat
    from fastkd.core import _fit_state
    from fastkd.kd import KnowledgeDistillationCallback
    from fastkd.hints import FeatureHintCallback

    class Record(Callback):
        "Per-step training loss (after fastkd composed it) and, during the fit, what DDP did to the models"
        order = 7
        def __init__(self, kd, hint): self.kd, self.hint, self.losses, self.seen = kd, hint, [], set()
        def before_fit(self):  # after fastkd's (order 5) built the adapter and broadcast rank 0's
            self.adapters_init = {k: v.clone() for k, v in self.hint.adapters.state_dict().items()}
        def after_loss(self):
            if not self.training: return
            self.losses.append(self.learn.loss_grad.item())
            self.seen.add((type(self.learn.model).__name__, type(self.kd.teacher).__name__,
                           str(next(self.kd.teacher.parameters()).device), str(next(self.learn.model.parameters()).device)))

    teacher, student = models()
    student_init = {k: v.clone() for k, v in student.state_dict().items()}
    dls = dataloaders(world, reference)
    # The adapter is built in `before_fit` from the global RNG: seed it differently on each rank, so that the ranks agree
    # (and match the reference, seeded as rank 0) only if fastkd broadcasts rank 0's adapter as DDP does the student
    torch.manual_seed(SEED + 1 + int(os.environ.get('RANK', 0)))
    kd = KnowledgeDistillationCallback(teacher, T=4., alpha=0.5)
    hint = FeatureHintCallback(teacher, ['1'], ['1'], weight=0.5)
    rec = Record(kd, hint)
    learn = Learner(dls, student, loss_func=CrossEntropyLossFlat(), opt_func=SGD, lr=LR, cbs=[kd, hint, rec])
    with learn.no_bar(), learn.no_logging():
        if reference: learn.fit(EPOCHS, LR)
        else:
            with learn.distrib_ctx(sync_bn=False, cpu=True): learn.fit(EPOCHS, LR)  # as the README says for CPUs
    hooks = [n for model in (learn.model, teacher) for n, m in model.named_modules()
             if m._forward_hooks or m._forward_pre_hooks or m._backward_hooks]
    torch.save(dict(losses=rec.losses, seen=sorted(rec.seen), hooks=hooks, fits=int(_fit_state(learn) is not None),
                    student=learn.model.state_dict(), adapters=hint.adapters.state_dict(),
                    student_init=student_init, adapters_init=rec.adapters_init,
                    teacher_is_ddp=isinstance(teacher, DistributedDataParallel), model_type=type(learn.model).__name__,
                    teacher_grad=[p.requires_grad for p in teacher.parameters()], teacher_training=teacher.training,
                    opt_params=sum(len(g) for g in learn.opt.param_lists)),
               out / ('reference.pt' if reference else f"rank{os.environ['RANK']}.pt"))

if __name__ == '__main__':
    p = argparse.ArgumentParser()
    p.add_argument('out', type=Path)
    p.add_argument('--reference', action='store_true', help='single process, global batches of 2*B')
    p.add_argument('--world', type=int, default=2, help='number of ranks the reference stands for')
    args = p.parse_args()
    torch.set_num_threads(1)
    main(args.out, args.reference, int(os.environ.get('WORLD_SIZE', args.world)))
