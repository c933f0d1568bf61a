"""The docs site: tools/docs.py builds it offline from every notebook, and headless Chromium (Debian's `chromium`,
driven by playwright) finds each page, each public name with its parameters, and every link of the site in place;
that the sidebar follows the order users reach for, search works from disk, signatures fit the column, math renders,
and every API page shows what its examples give."""
import ast, functools, http.server, importlib, inspect, os, re, subprocess, sys, threading
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

# The sidebar as the docs issue asks for it: guides, the API reference by what users reach for, internals last.
# tools/docs.py `NAV` drives it; a page it does not list goes at the end of the reference, before the internals.
SIDEBAR = ['index.html', 'tutorials/distillation.html', 'reliability.html', 'tutorials/benchmarks.html',
           'kd.html', 'hints.html', 'attention.html', 'cache.html', 'report.html', 'deploy.html',
           'losses.html', 'hooks.html', 'core.html', 'data.html', 'all.html', 'demo.html', 'testing.html']
INTERNALS = ['demo.html', 'testing.html']

def example_cells(nb_path)->list:
    "The code cells of a notebook that run an example: not exported, not hidden, not only imports or `show_doc`"
    examples = []
    for cell in read_nb(nb_path).cells:
        if cell.cell_type != 'code': continue
        directives = set(re.findall(r'^#\|\s*([\w-]+)', cell.source, re.M))
        if directives & {'export', 'exports', 'exporti', 'hide', 'default_exp'}: continue
        code = '\n'.join(l for l in cell.source.splitlines() if not l.startswith('#|'))
        try: body = ast.parse(code).body
        except SyntaxError: body = [code]  # IPython magics: an example too
        if body and not all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in body) and not docs.is_doc_cell(code):
            examples.append(cell)
    return examples

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
  const prose = article ? article.cloneNode(true) : null;  // the text outside code blocks: where TeX would show raw
  if (prose) prose.querySelectorAll('pre, code').forEach(e => e.remove());
  const outputs = [...document.querySelectorAll('article .nb-output')];
  const html = document.documentElement;
  return {title: document.title, ids: [...document.querySelectorAll('[id]')].map(e => e.id),
          links: [...document.querySelectorAll('a[href]')].map(a => a.href),
          nav: [...document.querySelectorAll('nav.md-nav--primary a.md-nav__link[href]')].map(a => a.href),
          text: article ? article.innerText : '', sections, prose: prose ? prose.textContent : '',
          outputs: outputs.length, output_text: outputs.map(o => o.innerText).join('\\n'),
          output_images: outputs.reduce((n, o) => n + o.querySelectorAll('img').length, 0),
          images: [...document.querySelectorAll('article img')].map(i => ({src: i.src, ok: i.complete && i.naturalWidth > 0})),
          signatures: [...document.querySelectorAll('article .nb-signature pre, article .nb-signature code')]
            .map(e => ({text: e.innerText, scroll: e.scrollWidth, client: e.clientWidth})),
          page_scrolls_sideways: html.scrollWidth > html.clientWidth,
          math: document.querySelectorAll('article math').length};
}"""

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass

class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        "Quiet about a page closed while it loaded; anything else as usual"
        if not isinstance(sys.exc_info()[1], ConnectionError): super().handle_error(request, client_address)

def launch(playwright):
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make browser` (installs Debian's chromium package as root), "
                    "or point the CHROMIUM environment variable at a Chromium or Chrome binary")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)

@pytest.fixture(scope='module')
def browser(site):
    "Chromium, with the site served by a local HTTP server at `base`; requests outside it are refused and recorded"
    from playwright.sync_api import sync_playwright
    server = QuietServer(('127.0.0.1', 0), functools.partial(QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f'http://127.0.0.1:{server.server_port}/'
    try:
        with sync_playwright() as p:
            chromium = launch(p)
            context = chromium.new_context(viewport={'width': 1280, 'height': 900})
            live = dict(base=base, chromium=chromium, context=context, failed=[], outside=[])
            context.route('**/*', lambda route: route.continue_() if route.request.url.startswith(base)
                          else (live['outside'].append(route.request.url), route.abort()))
            context.on('response', lambda r: r.status >= 400 and live['failed'].append(f'{r.status} {r.url}'))
            context.on('requestfailed', lambda r: r.url.startswith(base) and live['failed'].append(f'{r.failure} {r.url}'))
            yield live
            chromium.close()
    finally: server.shutdown()

@pytest.fixture(scope='module')
def crawl(browser):
    "Every page reachable from the home page, loaded in Chromium (1280 x 900) from the local server: what each one shows"
    base, context = browser['base'], browser['context']
    result = dict(base=base, pages={}, files={}, failed=browser['failed'], outside=browser['outside'])
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
    result['first_screen'] = page.evaluate("""() => [...document.querySelectorAll('article pre > code')].map(
        e => ({text: e.innerText, bottom: e.getBoundingClientRect().bottom, scrolls: e.scrollWidth > e.clientWidth}))""")
    page.close()
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
    "Every page in the sidebar: home, the guides, the API reference by what users reach for, internals last"
    home = crawl['pages']['index.html']
    assert 'fastkd' in home['title'] and 'KnowledgeDistillationCallback' in home['text']
    assert (ARTIFACTS / 'docs-home.png').stat().st_size > 10_000
    nav = [href.removeprefix(crawl['base']) for href in home['nav']]
    missing = {html_path(p) for p in PAGES} - set(nav)
    assert not missing, f"pages missing from the sidebar (add them to NAV in tools/docs.py): {sorted(missing)}"
    expected = [n for n in SIDEBAR if n in {html_path(p) for p in PAGES}]
    assert [n for n in nav if n in expected] == expected, nav
    unlisted = [n for n in nav if n not in SIDEBAR]
    assert not unlisted or nav.index(unlisted[-1]) < nav.index(INTERNALS[0]), "pages NAV misses go before the internals"

def test_nav_puts_unlisted_pages_at_the_end_of_their_section():
    "A notebook NAV does not list yet (a new method's) ends the API reference; a new tutorial ends the guides"
    nbs = NBS.resolve()
    sources = {'index': 'index', 'tutorials/zz_new': 'tutorials/zz_new', 'kd': '03_kd', 'new_method': '99_new_method',
               'demo': '11_demo', 'data': '10_data', 'tutorials/distillation': 'tutorials/distillation'}
    pages = [docs.Page(nbs / f'{src}.ipynb', Path(f'{md}.md'), md) for md, src in sources.items()]
    nav = docs.nav(pages, nbs)
    assert nav[0] == {'Home': 'index.md'}
    sections = {title: [next(iter(e.values())) for e in entries] for d in nav[1:] for title, entries in d.items()}
    assert list(sections) == ['Guides', 'API reference', 'Internals']
    assert sections == {'Guides': ['tutorials/distillation.md', 'tutorials/zz_new.md'],
                        'API reference': ['kd.md', 'data.md', 'new_method.md'], 'Internals': ['demo.md']}

def test_home_page_shows_install_and_usage_first(crawl):
    "The first screen (1280 x 900): how to install and a short usage example, before the demo's output table"
    blocks = crawl['first_screen']
    install = next((b for b in blocks if 'pip install' in b['text'] and 'make demo' in b['text']), None)
    usage = next((b for b in blocks if 'KnowledgeDistillationCallback(' in b['text']), None)
    demo = next((b for b in blocks if 'teacher (CNN)' in b['text']), None)
    assert install and usage and demo, [b['text'][:60] for b in blocks]
    assert install['bottom'] < usage['bottom'] < demo['bottom'], blocks
    assert usage['bottom'] <= 900, f"the usage example ends {usage['bottom']:.0f} px down, below the first screen"
    assert len(usage['text'].strip().splitlines()) <= 6, usage['text']
    assert not [b['text'] for b in blocks if b['scrolls']], "code on the home page wider than the column (80 characters)"

def test_search_works_from_disk(site, browser):
    "_site/index.html opened as a file (no server): typing in the search box lists pages (the offline plugin)"
    context = browser['chromium'].new_context(viewport={'width': 1280, 'height': 900})
    outside = []
    context.route('**/*', lambda route: route.continue_() if route.request.url.startswith('file://')
                  else (outside.append(route.request.url), route.abort()))
    page = context.new_page()
    errors = []
    page.on('pageerror', lambda e: errors.append(str(e)))
    try:
        page.goto((site / 'index.html').as_uri())
        page.locator('input.md-search__input').click(timeout=10_000)
        page.keyboard.type('temperature')
        page.wait_for_selector('.md-search-result__item', timeout=20_000)
        results = page.locator('.md-search-result__item a').evaluate_all('as => as.map(a => a.href)')
    finally: context.close()
    assert any('kd.html' in r for r in results), results
    assert not outside and not errors, (outside, errors)

def test_signatures_fit_the_column(crawl):
    "No `show_doc` signature scrolls sideways at 1280 px: long ones put one parameter a line"
    wide = [f"{rel}: {sig['text'].splitlines()[0]} ({sig['scroll']} px in {sig['client']})"
            for rel, info in crawl['pages'].items() for sig in info['signatures'] if sig['scroll'] > sig['client']]
    assert sum(len(info['signatures']) for info in crawl['pages'].values()) > 20
    assert not wide, '\n'.join(wide)

def test_no_page_scrolls_sideways(crawl):
    assert not [rel for rel, info in crawl['pages'].items() if info['page_scrolls_sideways']]

def test_wide_table_scrolls_in_its_own_box(browser, tmp_path):
    "A DataFrame too wide for the column, as tools/docs.py writes it, scrolls inside its box; the page does not"
    from fastcore.basics import AttrDict
    header = ''.join(f'<th>a rather long column name {i}</th>' for i in range(30))
    wide = f'<table class="dataframe"><tr>{header}</tr></table>'
    cell = AttrDict(cell_type='code', source='df', outputs=[AttrDict(output_type='execute_result', data={'text/html': wide})])
    box = docs.PageWriter(docs.Page(NBS / 'x.ipynb', Path('x.md')), {}, tmp_path, '').cell(cell).split('\n\n', 1)[1]
    page = browser['context'].new_page()
    page.goto(browser['base'] + 'kd.html', wait_until='networkidle')
    sizes = page.evaluate("""box => {
        document.querySelector('article').insertAdjacentHTML('beforeend', box);
        const out = [...document.querySelectorAll('article .nb-output')].pop(), html = document.documentElement;
        return {box: out.scrollWidth > out.clientWidth, page: html.scrollWidth > html.clientWidth,
                table: out.querySelector('table').getBoundingClientRect().width, width: out.clientWidth};
    }""", box)
    page.close()
    assert sizes['table'] > sizes['width'] and sizes['box'] and not sizes['page'], sizes

def test_math_sizing_commands_become_mathml():
    "latex2mathml leaves a command delimiter after \\big...\\Bigg raw: the hook turns it into its character"
    for tex in [r'\Big\lVert x \Big\rVert_2^2', r'\big\| x \big\|', r'\bigl\langle x \bigr\rangle', r'\Bigg\{ x \Bigg\}',
                r'\bigg\lvert x \bigg\rvert', r'\left\lVert x \right\rVert', r'\Bigl( x \Bigr)', r'\big\lfloor x \big\rfloor']:
        mathml = docs.tex_to_mathml(tex, display=True)
        assert '\\' not in mathml and '<mo' in mathml, (tex, mathml)

def test_no_raw_tex_on_any_page(crawl):
    "The text of every page, code aside, shows no TeX command: every formula became MathML"
    raw = re.compile(r'\\(?:[A-Za-z]+|[()\[\]|{}])')
    shown = {rel: sorted(set(raw.findall(info['prose']))) for rel, info in crawl['pages'].items()}
    assert not {rel: cmds for rel, cmds in shown.items() if cmds}
    assert crawl['pages']['losses.html']['math'] > 0 and crawl['pages']['attention.html']['math'] > 0

def test_api_pages_show_outputs(crawl):
    "Every API page (a numbered notebook) with examples shows what at least one of them gives: a table, a plot, a value"
    silent = [f"{html_path(p)}: {len(example_cells(p.src))} example cells, no output saved"
              for p in PAGES if p.src.parent == NBS.resolve() and p.src.name[:2].isdigit()
              and example_cells(p.src) and not crawl['pages'][html_path(p)]['outputs']]
    assert not silent, "run these notebooks and save them with their outputs:\n" + '\n'.join(silent)

MACHINE_PATH = re.compile(r'/work/|/root/|/home/\w+/|/tmp/|site-packages|[/\\]\.venv[/\\]|/usr/lib/python')
WARNING = re.compile(r'\b(?:FutureWarning|DeprecationWarning|UserWarning|RuntimeWarning)\b')

def test_pages_show_no_machine_paths_or_warnings(crawl):
    "No page shows a path of the machine that ran its notebook, and no output shows a warning"
    problems = [f"{rel}: {kind} {m.group()!r}: ...{text[max(0, m.start() - 60):m.end() + 60]}..."
                for rel, info in crawl['pages'].items()
                for kind, pattern, text in (('machine path', MACHINE_PATH, info['text']),
                                            ('warning', WARNING, info['output_text']))
                for m in list(pattern.finditer(text))[:1]]
    assert not problems, '\n'.join(problems)

def test_pages_named_in_the_docs_issue_show_pictures(crawl):
    "The docs issue asks for plots on these pages, once their notebooks are run and saved with outputs"
    missing = [rel for rel in ('kd.html', 'attention.html', 'tutorials/distillation.html', 'tutorials/benchmarks.html')
               if not crawl['pages'][rel]['output_images']]
    assert not missing, f"pages without a plot: {missing}"

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
        assert all(k in section for k in params), (name, params, section)  # a callback may take no argument

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
