"""Worker for tests/test_store.py and tests/test_ddp.py: a KD fit with a soft-label store in a folder, on an augmented pipeline.

    python tests/store_worker.py STORE OUT            # one process
    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/store_worker.py STORE OUT   # one shard per rank

A student (tiny_cnn(4)) is distilled from a fixed, seeded teacher (tiny_cnn(16)) for 2 epochs on digits with a random
item transform, fastai's aug_transforms and MixUp, with `KnowledgeDistillationCallback(teacher, cache=STORE)`. Each
process saves to OUT/rank{r}.pt: its teacher's forward passes per training epoch, every training batch's (mixed) inputs,
whether each batch's KD target equalled a live forward of the teacher, and any error the fit raised.
"""
import os, random, sys, torch
from pathlib import Path

def seeded_teacher():
    "The same teacher in every process"
    from fastkd.testing import tiny_cnn
    torch.manual_seed(0)
    return tiny_cnn(16, bn=False).eval()

def main(store:Path, out:Path):
    from fastai.learner import Learner
    from fastai.callback.core import Callback
    from fastai.callback.mixup import MixUp
    from fastai.losses import CrossEntropyLossFlat
    from fastai.torch_core import set_seed, TensorImage
    from fastai.vision.augment import aug_transforms, RandTransform
    import fastai.distributed  # noqa: F401 (adds `Learner.distrib_ctx`)
    from fastkd.data import digits_dls
    from fastkd.testing import tiny_cnn
    from fastkd.kd import KnowledgeDistillationCallback

    class RandomShift(RandTransform):
        def before_call(self, b, split_idx): self.shift = (random.randint(-2, 2), random.randint(-2, 2))
        def encodes(self, x:TensorImage): return x.roll(self.shift, dims=(-2, -1))

    class Watch(Callback):
        order = 7
        def __init__(self, teacher): self.teacher, self.live, self.per_epoch, self.inputs, self.match = teacher, seeded_teacher(), [], [], []
        def before_fit(self):
            self.per_epoch, self.inputs, self.match = [], [], []
            self.h = self.teacher.register_forward_hook(lambda *a: self.training and self.count())
        def count(self): self.per_epoch[-1] += 1
        def before_train(self): self.per_epoch.append(0)
        def after_loss(self):
            if not self.training: return
            self.inputs.append(self.learn.xb[0].clone())
            with torch.no_grad(): live = self.live(self.learn.xb[0])
            self.match.append(bool(torch.allclose(self.learn.knowledge_distillation.teacher_logits, live, atol=1e-6)))
        def after_fit(self): self.h.remove()

    teacher = seeded_teacher()
    dls = digits_dls(bs=32, device='cpu')
    dls.train.after_item.add(RandomShift()); dls.train.after_batch.add(aug_transforms())
    set_seed(1)
    watch = Watch(teacher)
    learn = Learner(dls, tiny_cnn(4, bn=False), loss_func=CrossEntropyLossFlat(), cbs=[MixUp(), watch])
    error = None
    with learn.no_bar(), learn.no_logging():
        try:
            if 'WORLD_SIZE' in os.environ:
                with learn.distrib_ctx(sync_bn=False, cpu=True): learn.fit(2, 1e-3, cbs=KnowledgeDistillationCallback(teacher, cache=store))
            else: learn.fit(2, 1e-3, cbs=KnowledgeDistillationCallback(teacher, cache=store))
        except Exception as e: error = str(e)
    torch.save(dict(per_epoch=watch.per_epoch, inputs=watch.inputs, match=watch.match, error=error),
               out / f"rank{os.environ.get('RANK', 0)}.pt")

if __name__ == '__main__':
    torch.set_num_threads(1)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
