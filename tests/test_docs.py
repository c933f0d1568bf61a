"""The docs site: tools/docs.py builds it offline from every notebook, and headless Chromium (Debian's `chromium`,
driven by playwright) finds each page, each public name with its parameters, and every link of the site in place."""
import functools, http.server, importlib, inspect, os, subprocess, sys, threading
from pathlib import Path
from urllib.parse import unquote
import pytest
from fastcore.docments import docments
from fastcore.nbio import read_nb

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
ARTIFACTS = ROOT / 'tests' / 'artifacts'  # git-ignored
CHROMIUM = Path(os.environ.get('CHROMIUM', '/usr/bin/chromium'))
CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync']  # headless; playwright gives it a fresh profile
sys.path.insert(0, str(ROOT / 'tools'))
import docs  # tools/docs.py
from fastkd._modidx import d as MODIDX

PAGES = [docs.page_for(nb.resolve(), NBS.resolve()) for nb in docs.notebooks(NBS)]

def html_path(page)->str: return page.md.with_suffix('.html').as_posix()

def public_names()->dict:
    "{'fastkd.core.DistillationCallback': ('core.html', 'distillationcallback'), ...}: top-level public names"
    names = {}
    for module, syms in MODIDX['syms'].items():
        for name, (url, _) in syms.items():
            short = name[len(module) + 1:]
            if '.' not in short and not short.startswith('_'): names[name] = tuple(url.split('#'))
    return names

def resolve(qualname:str):
    module, name = qualname.rsplit('.', 1)
    return getattr(importlib.import_module(module), name)

def documented_params(obj)->dict:
    "Parameter name -> docment (backticks dropped, as the page shows them) of a function or a class's `__init__`"
    return {k: (v['docment'] or '').replace('`', '') for k, v in docments(obj, full=True).items()
            if k not in ('self', 'return') and v.get('docment')}

# --- the build ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp('site')
    res = subprocess.run([sys.executable, 'tools/docs.py', str(out)], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert res.returncode == 0, f"tools/docs.py failed:\n{res.stdout[-3000:]}\n{res.stderr[-5000:]}"
    return out

def test_every_notebook_has_a_page(site):
    assert {'index.html', 'core.html', 'kd.html', 'report.html', 'deploy.html'} <= {html_path(p) for p in PAGES}
    missing = [html_path(p) for p in PAGES if not (site / html_path(p)).is_file()]
    assert not missing, f"notebooks without a page: {missing}"

def test_api_notebooks_keep_imports_in_cells_of_their_own():
    "nbdev-docs runs every cell with an import in a notebook that exports; one that also holds test code fails there"
    bad = []
    for nb in docs.notebooks(NBS):
        cells = read_nb(nb)
        if any(c.source.startswith('#| export') for c in cells.cells):
            bad += [f"{nb.relative_to(ROOT)} cell {i}: {src.splitlines()[0]}" for i, src in docs.mixed_import_cells(cells)]
    assert not bad, ("these cells mix imports with other code; nbdev-docs (quarto) runs the whole cell to render the page, "
                     "so move the imports into a cell of their own (or into the notebook's import cell):\n" + '\n'.join(bad))

# --- the site in Chromium ----------------------------------------------------------------------------------------

PAGE_JS = """() => {
  const article = document.querySelector('article');
  const sections = {};
  for (const h of document.querySelectorAll('article h3[id]')) {
    let text = h.innerText, e = h.nextElementSibling;
    while (e && !/^H[1-3]$/.test(e.tagName)) { text += '\\n' + e.innerText; e = e.nextElementSibling; }
    sections[h.id] = text;
  }
  return {title: document.title, ids: [...document.querySelectorAll('[id]')].map(e => e.id),
          links: [...document.querySelectorAll('a[href]')].map(a => a.href),
          nav: [...document.querySelectorAll('nav.md-nav--primary a.md-nav__link[href]')].map(a => a.href),
          text: article ? article.innerText : '', sections,
          images: [...document.querySelectorAll('article img')].map(i => ({src: i.src, ok: i.complete && i.naturalWidth > 0})),
          math: document.querySelectorAll('article math').length};
}"""

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass

def launch(playwright):
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make browser` (installs Debian's chromium package as root), "
                    "or point the CHROMIUM environment variable at a Chromium or Chrome binary")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)

@pytest.fixture(scope='module')
def crawl(site):
    "Every page reachable from the home page, loaded in Chromium from a local HTTP server: what each one shows"
    from playwright.sync_api import sync_playwright
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f'http://127.0.0.1:{server.server_port}/'
    result = dict(base=base, pages={}, files={}, failed=[], outside=[])
    try:
        with sync_playwright() as p:
            browser = launch(p)
            context = browser.new_context(viewport={'width': 1280, 'height': 900})
            context.route('**/*', lambda route: route.continue_() if route.request.url.startswith(base)
                          else (result['outside'].append(route.request.url), route.abort()))
            context.on('response', lambda r: r.status >= 400 and result['failed'].append(f'{r.status} {r.url}'))
            context.on('requestfailed', lambda r: r.url.startswith(base) and result['failed'].append(f'{r.failure} {r.url}'))
            page, queue = context.new_page(), ['index.html']
            while queue:
                rel = queue.pop(0)
                if rel in result['pages']: continue
                response = page.goto(base + rel, wait_until='networkidle')  # nothing cut short by the next page
                result['pages'][rel] = info = dict(status=response.status, **page.evaluate(PAGE_JS))
                for href in info['links']:
                    target = href.split('#')[0].removeprefix(base)
                    if not href.startswith(base): continue
                    if target == '' or target.endswith('/'): target += 'index.html'
                    if target.endswith('.html'): queue.append(target)
                    elif target not in result['files']: result['files'][target] = context.request.get(base + target).status
            ARTIFACTS.mkdir(exist_ok=True)
            page.goto(base + 'index.html')
            page.screenshot(path=str(ARTIFACTS / 'docs-home.png'))
            browser.close()
    finally: server.shutdown()
    return result

def test_every_page_loads_and_links_resolve(crawl):
    pages, base = crawl['pages'], crawl['base']
    unreachable = [html_path(p) for p in PAGES if html_path(p) not in pages]
    assert not unreachable, f"pages no link leads to from the home page: {unreachable}"
    def anchor_missing(href):
        page, _, anchor = href.removeprefix(base).partition('#')
        return anchor and page in pages and pages[page]['status'] == 200 and unquote(anchor) not in pages[page]['ids']
    problems = ([f"request failed: {f}" for f in crawl['failed']] +
                [f"loaded from outside (the site must work offline): {u}" for u in crawl['outside']] +
                [f"{rel}: HTTP {info['status']}" for rel, info in pages.items() if info['status'] != 200] +
                [f"link to {rel}: HTTP {status}" for rel, status in crawl['files'].items() if status != 200] +
                [f"{rel}: image not shown: {img['src']}" for rel, info in pages.items() for img in info['images'] if not img['ok']] +
                [f"{rel}: link to a missing anchor: {href}" for rel, info in pages.items() for href in info['links']
                 if href.startswith(base) and anchor_missing(href)])
    assert not problems, '\n'.join(problems)

def test_home_page_and_sidebar(crawl):
    home = crawl['pages']['index.html']
    assert 'fastkd' in home['title'] and 'KnowledgeDistillationCallback' in home['text']
    assert (ARTIFACTS / 'docs-home.png').stat().st_size > 10_000
    nav = [href.removeprefix(crawl['base']) for href in home['nav']]
    assert nav[0] == 'index.html' and set(nav) >= {html_path(p) for p in PAGES}, nav
    api = [html_path(p) for p in PAGES if p.src.parent == NBS.resolve() and p.src.name != 'index.ipynb']
    assert [n for n in nav if n in api] == api, "the API pages follow the notebooks' numbers in the sidebar"
    assert nav.index('tutorials/distillation.html') < nav.index(api[0]), "tutorials come before the API reference"

def test_every_public_name_is_documented(crawl):
    "Each exported function and class: a heading on its module's page, the signature, every parameter and its docment"
    missing = []
    for qualname, (page, anchor) in public_names().items():
        section = crawl['pages'][page]['sections'].get(anchor, '')
        name = qualname.rsplit('.', 1)[1]
        if f'{name}(' not in section: missing.append(f'{qualname}: no heading #{anchor} with a signature on {page}')
        missing += [f'{qualname}: parameter {k} or its description missing on {page}'
                    for k, doc in documented_params(resolve(qualname)).items() if k not in section or doc not in section]
    assert not missing, '\n'.join(missing)

def test_callback_pages(crawl):
    from fastai.callback.core import Callback
    callbacks = {q: loc for q, loc in public_names().items() if isinstance(c := resolve(q), type) and issubclass(c, Callback)}
    assert {q.rsplit('.', 1)[1] for q in callbacks} >= {'DistillationCallback', 'KnowledgeDistillationCallback',
                                                        'FeatureHintCallback', 'AttentionTransferCallback'}
    for qualname, (page, anchor) in callbacks.items():
        name, section = qualname.rsplit('.', 1)[1], crawl['pages'][page]['sections'][anchor]
        assert name in crawl['pages'][page]['text'] and f'class {name}(' in section, (page, section[:300])
        params = [k for k in inspect.signature(resolve(qualname)).parameters if k not in ('self', 'args', 'kwargs')]
        assert params and all(k in section for k in params), (name, params, section)

def test_notebook_outputs_and_math_are_shown(crawl):
    "Saved plots appear as images on the page, text outputs as text; TeX becomes MathML"
    for page in PAGES:
        outputs = [o for c in read_nb(page.src).cells if c.cell_type == 'code' and '#| hide' not in c.source for o in c.get('outputs', [])]
        info = crawl['pages'][html_path(page)]
        n_images = sum(any(k.startswith('image/') for k in o.get('data', {})) for o in outputs)
        assert len(info['images']) >= n_images, f"{html_path(page)}: {n_images} plots saved, {len(info['images'])} shown"
        for o in outputs:
            text = o.get('text') if o.get('output_type') == 'stream' else None
            line = next((l.strip() for l in ''.join(text or '').splitlines() if l.strip()), None)
            assert line is None or line in info['text'], f"{html_path(page)}: output {line!r} not shown"
    losses = crawl['pages']['losses.html']
    assert losses['math'] > 0 and '\\(' not in losses['text'] and '\\frac' not in losses['text']
