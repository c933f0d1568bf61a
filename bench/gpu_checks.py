"""CUDA-only checks of fastkd under fastai's own mixed precision: `to_fp16()` (GradScaler) and `to_bf16()`.

Run on a CUDA machine (bench/gpu.sh runs it): a short KD + hints fit of resnet18 from a resnet50 teacher on synthetic
64x64 data in each precision; checks finite losses, the KD term in fp32, the teacher's logits in half precision
(it ran inside fastai's autocast) and its weights untouched. Prints one line per check and exits non-zero on failure.
"""
import copy, sys, torch
from fastai.learner import Learner
from fastai.callback.core import Callback
from fastai.losses import CrossEntropyLossFlat
from torchvision.models import resnet18, resnet50
from fastkd.data import arrays_dls
from fastkd.kd import KnowledgeDistillationCallback
from fastkd.hints import FeatureHintCallback

class Inspect(Callback):
    order = 7
    def before_fit(self): self.seen = []
    def after_loss(self):
        if not self.training: return
        kd = self.learn.knowledge_distillation
        self.seen.append((kd.teacher_logits.dtype, kd.distill_term().dtype, bool(torch.isfinite(self.learn.loss_grad))))

def main():
    assert torch.cuda.is_available(), 'needs CUDA'
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(1024, 3, 64, 64, generator=g), torch.randint(0, 100, (1024,), generator=g)
    dls = arrays_dls(x, y, x[:256], y[:256], [str(i) for i in range(100)], bs=128, device=torch.device('cuda'))
    teacher = resnet50(num_classes=100).cuda(); weights = copy.deepcopy(teacher.state_dict())
    failed = 0
    for mode, half in (('to_fp16', torch.float16), ('to_bf16', torch.bfloat16)):
        inspect = Inspect()
        learn = getattr(Learner(dls, resnet18(num_classes=100), loss_func=CrossEntropyLossFlat()), mode)()
        learn.fit(1, 1e-3, cbs=[KnowledgeDistillationCallback(teacher), FeatureHintCallback(teacher, ['layer3'], ['layer3']), inspect])
        ok = all(t == half and k == torch.float32 and f for t, k, f in inspect.seen) and len(inspect.seen) == len(dls.train)
        ok &= all(torch.equal(v, weights[k]) for k, v in teacher.state_dict().items())
        print(f"{mode}: {len(inspect.seen)} batches, teacher logits {inspect.seen[0][0]}, KD term {inspect.seen[0][1]}, "
              f"finite {all(f for *_, f in inspect.seen)}, teacher unchanged: {'ok' if ok else 'FAILED'}")
        failed += not ok
    sys.exit(failed)

if __name__ == '__main__': main()
