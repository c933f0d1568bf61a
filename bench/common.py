"What the benchmark scripts share: quiet Learners and finished fits kept on disk"
import json, time
from fastai.callback.progress import ProgressCallback

def quiet(learn):
    "`learn` without its progress bar (the scripts print one line per row instead)"
    learn.remove_cbs(learn.cbs.filter(lambda cb: isinstance(cb, ProgressCallback))); return learn

class Runs:
    "Finished fits by key, written to disk after each one so that a rerun skips them"
    def __init__(self, path): self.path, self.done = path, (json.loads(path.read_text()) if path.exists() else {})
    def get(self, key, fit):
        if key not in self.done:
            start = time.perf_counter()
            self.done[key] = dict(fit(), wall_s=time.perf_counter() - start)
            self.path.write_text(json.dumps(self.done, indent=0))
        return self.done[key]

def compare(row, plain, higher_is_better=True):
    "Sets `row`'s `vs_plain` (its mean minus plain's) and `verdict`: a win or a loss beyond the two rows' stds combined"
    diff, noise = row['mean'] - plain['mean'], (row['std'] ** 2 + plain['std'] ** 2) ** 0.5
    better = diff if higher_is_better else -diff
    row['vs_plain'], row['verdict'] = diff, 'win' if better > noise else 'loss' if better < -noise else 'within noise'
    return diff

def use_threads():
    "torch on as many threads as OMP_NUM_THREADS says (make bench sets 1)"
    import os, torch
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', torch.get_num_threads())))

def begin(results):
    "Start of a script: its threads set (`use_threads`), its results folder made; returns the start time"
    use_threads(); results.mkdir(exist_ok=True)
    return time.perf_counter()
