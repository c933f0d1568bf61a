"Checks that notebooks do badly: the generated README and modules match their notebooks, and the declared dependencies."
import shutil, subprocess, sys, tomllib
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]

def test_readme_is_generated_from_index(tmp_path):
    out = tmp_path / 'README.md'
    subprocess.run([sys.executable, 'tools/readme.py', str(out)], cwd=ROOT, check=True)
    assert out.read_text() == (ROOT / 'README.md').read_text(), "README.md is stale: run `make readme` and commit it"

def test_modules_are_exported_from_notebooks(tmp_path):
    "fastkd/*.py must be exactly what nbdev-export writes from nbs/ (never edited by hand)"
    for name in ('nbs', 'fastkd', 'pyproject.toml'):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    nbdev_export = Path(sys.executable).parent / 'nbdev-export'
    subprocess.run([str(nbdev_export)], cwd=tmp_path, check=True)
    for py in sorted((ROOT / 'fastkd').glob('*.py')):
        assert (tmp_path / 'fastkd' / py.name).read_text() == py.read_text(), f"{py.name} differs from its notebook's export"

def test_dependencies_are_ranges():
    project = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']
    deps = project['dependencies'] + sum(project['optional-dependencies'].values(), [])
    assert 'torch>=2.1' in deps and 'fastai>=2.8.8' in deps
    assert not [d for d in deps if '==' in d or '<' in d], "declare ranges, never pins"
    assert not (ROOT / 'settings.ini').exists(), "nbdev 3 reads [tool.nbdev] in pyproject.toml only"

def test_demo_command_prints_the_table():
    res = subprocess.run([sys.executable, '-m', 'fastkd.demo', '--epochs', '2'], cwd=ROOT, capture_output=True, text=True, check=True)
    table = res.stdout.split('fastkd demo on digits')[1]
    for row in ('teacher (CNN)', 'student, plain', 'student, KD', '100 labels + unlabelled'): assert row in table
    assert 'accuracy' in table and 'params' in table and 'seconds' in table
    report = table.split('teacher vs the KD student')[1]
    assert 'latency' in report.lower() and 'reduction' in report.lower()

def test_importing_data_alone_leaves_learner_alone():
    "Only fastkd.core (which every callback module imports) replaces `Learner.fit`/`export`; the data loaders do not"
    code = ("import fastai.learner as l; fit, export = l.Learner.fit, l.Learner.export; import fastkd.data, fastkd.losses, "
            "fastkd.hooks; assert l.Learner.fit is fit and l.Learner.export is export; import fastkd.kd; "
            "assert l.Learner.fit is not fit and l.Learner.export is not export")
    subprocess.run([sys.executable, '-c', code], cwd=ROOT, check=True)

def test_no_module_imports_private_names_of_another():
    "Shared code lives in a module of its own, with public names"
    bad = [f"{py.name}: {line.strip()}" for py in (ROOT / 'fastkd').glob('*.py') if py.name != '_modidx.py'
           for line in py.read_text().splitlines() if line.startswith('from .') and ' import ' in line
           and any(n.strip().startswith('_') for n in line.split(' import ')[1].split(','))]
    assert not bad, '\n'.join(bad)

def test_readme_benchmark_numbers_come_from_the_benchmark_files():
    "Every 'mean ± std' in the README's benchmarks section is a row of a JSON file the benchmarks page reads"
    import json, re
    section = (ROOT / 'README.md').read_text().split('## Benchmarks', 1)[1].split('\n## ', 1)[0]
    quoted = re.findall(r'\d+\.\d\d ± \d+\.\d\d', section)
    assert len(quoted) >= 10, "the README's benchmarks section lost its tables"
    def rows(o):
        "Every dict with a mean and a std, however deep in the file"
        if isinstance(o, dict):
            if 'mean' in o and 'std' in o: yield o
            for v in o.values(): yield from rows(v)
        elif isinstance(o, list):
            for v in o: yield from rows(v)
    known = set()
    for path in (ROOT / 'nbs' / 'tutorials').glob('benchmark_*.json'):
        for row in rows(json.loads(path.read_text())):
            scale = 1 if 'task' in row else 100  # accuracies are fractions; task metrics are already in % or degrees
            known.add(f"{scale * row['mean']:.2f} ± {scale * row['std']:.2f}")
    stale = [q for q in quoted if q not in known]
    assert not stale, f"README numbers not in any nbs/tutorials/benchmark_*.json: {stale} (rerun the benchmark or fix index.ipynb)"
