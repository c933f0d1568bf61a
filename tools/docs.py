"""Build the docs site offline: nbdev's notebook processing, one markdown page per notebook, then MkDocs (Material).

Usage: python tools/docs.py [SITE_DIR]   (`make docs`; SITE_DIR defaults to the git-ignored _site/)

Every notebook in nbs/ becomes a page: index.ipynb the home page, the numbered notebooks the API reference (nbdev's
`show_doc` for every exported name, its parameters in a table), the notebooks of nbs/tutorials/ the tutorials and
benchmarks, with the outputs and plots saved in them. nbdev processes the notebooks as for `nbdev-docs`, which
renders the same notebooks with quarto where quarto is installed; this script needs only PyPI packages. Two
differences: `show_doc` adds a parameter table, and in a cell that mixes imports with other code only the imports
run (nbdev-docs runs the whole cell; `tests/test_docs.py` asks for imports in cells of their own).

The sidebar follows `NAV` below. Each output of a cell is marked `.nb-output` on the page (`show_doc`'s aside), a wide
one scrolls in its own box, and long signatures put one parameter a line. The site works opened from disk, search
included (mkdocs.yml: the `offline` plugin, with tools/iframe-worker.js).

This file is also the MkDocs hook module named in mkdocs.yml: `on_page_content` turns TeX into MathML.
"""
from __future__ import annotations
import ast, atexit, base64, os, re, shutil, sys
from dataclasses import dataclass
from functools import partial
from html import unescape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES_DIR = ROOT / 'build' / 'docs'  # the generated markdown that MkDocs reads (mkdocs.yml `docs_dir`)
CSS = """.nb-description { font-size: 1.1em; opacity: .8; }
.nb-output { overflow-x: auto; max-width: 100%; margin-bottom: 1em; }
.nb-output table { font-size: .75rem; border-collapse: collapse; margin: .5em 0; }
.nb-output th, .nb-output td { padding: .25em .75em; border: 1px solid var(--md-default-fg-color--lightest); }
.md-typeset .nb-signature pre > code { white-space: pre-wrap; overflow-wrap: anywhere; }
.md-typeset .nb-output td:not(:last-child) code { white-space: nowrap; word-break: keep-all; }  /* names whole */
"""
SIGNATURE_WIDTH = 80  # characters of code a line holds in the content column at 1280 px: a longer signature wraps
IFRAME_WORKER = ROOT / 'tools' / 'iframe-worker.js'  # MkDocs Material's shim for its search worker under file://

# --- nbdev's processing, run in this process -------------------------------------------------------------------

def mixed_import_cells(nb)->list:
    "(index, source) of the code cells, export cells aside, that mix top-level imports with other code"
    return [(i, c.source) for i, c in enumerate(nb.cells) if _mixed_imports(c) is not None]

def _mixed_imports(cell)->str|None:
    "The top-level imports of a non-export code cell that also holds other code; None for any other cell"
    if cell.cell_type != 'code' or re.search(r'^#\|\s*(export|exports|exporti|exec_doc)\b', cell.source, re.M): return None
    try: tree = ast.parse(cell.source)
    except SyntaxError: return None  # IPython magics: nbdev leaves those cells alone too
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    if not imports or len(imports) == len(tree.body): return None
    return '\n'.join(ast.get_source_segment(cell.source, n) for n in imports)

def one_line_signature(name:str, dm, keyword:str='def')->str:
    "The signature that fastcore's `DocmentText` `dm` describes, on one line (`maxline=0` puts one parameter a line)"
    return f"{keyword} {name}({', '.join(p for p, _ in dm.params)}{dm._ret_str}"

def _nbdev_procs():
    "nbdev's docs processors, with our `show_doc` renderer and import handling (imported late: nbdev is slow to load)"
    from nbdev.processors import FilterDefaults, exec_show_docs
    from nbdev.showdoc import BasicMarkdownRenderer, show_doc
    from fastcore.docments import DocmentTbl, DocmentText

    class TableRenderer(BasicMarkdownRenderer):
        "nbdev's `show_doc` markdown with the parameters in a table (Type, Default, Details), not as comments"
        def _repr_markdown_(self):
            try: table = DocmentTbl(self.sym)._repr_markdown_()
            except Exception: table = ''  # no signature to tabulate: nbdev's rendering alone
            if isinstance(self.dm, DocmentText):
                if table:
                    for d in self.dm.dm.values(): d['docment'] = None
                one_line = one_line_signature(self.nm, self.dm, 'class' if isinstance(self.sym, type) else 'def')
                self.dm.maxline = 0 if len(one_line) > SIGNATURE_WIDTH else SIGNATURE_WIDTH
            md = super()._repr_markdown_().replace(f'### {self.nm}\n', f'### {self.nm} {{ #{self.nm.lower()} }}\n', 1)
            md = md.replace('```python\n', '``` {.python .nb-signature}\n', 1)  # CSS wraps a parameter still too long
            if isinstance(self.sym, type): md = md.replace(f'def {self.nm}(', f'class {self.nm}(', 1)
            return f'{md}\n\n{table}' if table else md

    class ExecShowDocs(exec_show_docs):
        "nbdev's `exec_show_docs`, rendering with `TableRenderer` and running only the imports of a mixed cell"
        def begin(self):
            super().begin()
            if hasattr(self, 'k'): self.k.user_ns['show_doc'] = partial(show_doc, renderer=TableRenderer)
        def __call__(self, cell):
            imports = _mixed_imports(cell)
            if imports is None: res = super().__call__(cell)
            elif not (self.nb.has_docs_ and hasattr(self, 'k')): return
            else:
                res = self.k.run(imports)
                if self.k.exc: raise RuntimeError(f"{self.nb.path_}: the imports of cell {cell.idx_} fail: {self.k.exc!r}")
            # a notebook that imports nbdev's `show_doc` itself (to document methods) gets ours back
            if hasattr(self, 'k'): self.k.user_ns['show_doc'] = partial(show_doc, renderer=TableRenderer)
            return res
        def end(self):
            super().end()
            if not hasattr(self, 'k'): return
            self.k.close()  # stop its event-loop thread
            atexit.unregister(self.k.atexit_operations)  # IPython's exit cleanup: a full gc per shell, seconds in all

    class Filter(FilterDefaults):
        def base_procs(self): return [ExecShowDocs if p is exec_show_docs else p for p in super().base_procs()]
    return Filter()

def process_nb(path:Path, procs):
    "The notebook at `path` as nbdev's docs processing leaves it: `show_doc` output added, links made, hidden cells gone"
    from fastcore.nbio import read_nb
    nb, in_test = read_nb(path), os.environ.get('IN_TEST')
    os.environ['IN_TEST'] = '1'  # as nbdev's processing sets it: notebooks may skip slow work
    try: procs(nb)
    finally:
        if in_test is None: del os.environ['IN_TEST']
        else: os.environ['IN_TEST'] = in_test
    return nb

# --- pages -------------------------------------------------------------------------------------------------------

@dataclass
class Page:
    src: Path  # the notebook
    md: Path  # the markdown page, relative to PAGES_DIR (the site's URL with .html for .md)
    title: str = ''
    description: str = ''

def page_for(src:Path, nbs:Path)->Page:
    "The page of notebook `src`, named as nbdev names it (`03_kd.ipynb` -> `kd.md`, served as kd.html)"
    from nbdev.config import nbpath2html
    return Page(src, src.relative_to(nbs).with_name(nbpath2html(src).name).with_suffix('.md'))

def _visible(path:Path, nbs:Path)->bool: return not any(part[0] in '._' for part in path.relative_to(nbs).parts)

def notebooks(nbs:Path)->list:
    "Every notebook under `nbs`, hidden and underscore-prefixed folders and files aside (nbdev's rules)"
    return sorted(p for p in nbs.rglob('*.ipynb') if _visible(p, nbs))

_ANSI = re.compile(r'\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])')
_DIRECTIVE = re.compile(r'^#\|\s*([\w-]+)\s*:\s*(.*?)\s*$')

def _text(s)->str: return ''.join(s) if isinstance(s, list) else s

def _pre(text:str)->str:
    "Plain text in a fence longer than any backtick run inside it"
    fence = '`' * max(3, max(map(len, re.findall('`+', text)), default=0) + 1)
    return f'{fence}text\n{_ANSI.sub("", text).rstrip()}\n{fence}'

def _split_directives(source:str)->tuple:
    "Quarto cell options (`#| echo: false`) that nbdev leaves in a code cell, and the code without them"
    opts, lines = {}, source.splitlines()
    while lines and (m := _DIRECTIVE.match(lines[0])): opts[m[1]] = m[2].strip('"\''); lines.pop(0)
    return opts, '\n'.join(lines).strip()

def is_doc_cell(code:str)->bool:
    "Whether `code` only calls `show_doc`: its output is the API reference, not an example's result"
    try: tree = ast.parse(code)
    except SyntaxError: return False
    return bool(tree.body) and all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)
                                   and getattr(n.value.func, 'id', None) == 'show_doc' for n in tree.body)

def _output_box(md:str)->str:
    "A cell's output marked as one (`.nb-output`), so that the page and its tests can tell results from prose"
    return md if md.startswith('<div class="nb-output">') else f'<div class="nb-output" markdown="1">\n\n{md}\n\n</div>'

class PageWriter:
    "Writes one notebook's markdown page and its images into PAGES_DIR"
    def __init__(self, page:Page, pages:dict, out:Path, doc_url:str):
        self.page, self.pages, self.out, self.doc_url, self.n_files = page, pages, out, doc_url, 0

    def file(self, data:bytes, ext:str)->str:
        "Save an output or attachment next to the page; its path relative to the page"
        self.n_files += 1
        rel = Path(f'{self.page.md.stem}_files') / f'output_{self.n_files}.{ext}'
        (self.out / self.page.md.parent / rel).parent.mkdir(parents=True, exist_ok=True)
        (self.out / self.page.md.parent / rel).write_bytes(data)
        return rel.as_posix()

    def link(self, target:Page, anchor:str='')->str:
        return Path(os.path.relpath(target.md, self.page.md.parent)).as_posix() + anchor

    def links(self, md:str)->str:
        "Links to the published nbdev site and to notebooks become links between the pages of this site"
        by_html = {p.md.with_suffix('.html').as_posix(): p for p in self.pages.values()}
        def site_link(m):
            target = by_html.get(m[2])
            return f'{m[1]}{self.link(target, m[3] or "")})' if target else m[0]
        def nb_link(m):
            target = self.pages.get((self.page.src.parent / m[2]).resolve())
            return f'{m[1]}{self.link(target, m[3] or "")})' if target else m[0]
        md = re.sub(rf'(\]\(){re.escape(self.doc_url)}([^)#\s]+\.html)(#[^)\s]*)?\)', site_link, md)
        return re.sub(r'(\]\()(?![a-z]+:)([^)#\s]+\.ipynb)(#[^)\s]*)?\)', nb_link, md)

    def output(self, out)->str:
        "One output as markdown; HTML (a DataFrame) in a box of its own that scrolls sideways when it is wide"
        if out.output_type == 'stream': return _pre(_text(out.text))
        if out.output_type == 'error': return _pre('\n'.join(out.traceback))
        data = out.get('data', {})  # the richest form first, as nbconvert's HTML exporter picks it
        if 'text/html' in data: return f'<div class="nb-output">\n{_text(data["text/html"]).strip()}\n</div>'
        if 'text/markdown' in data: return self.links(_text(data['text/markdown']))
        if 'image/svg+xml' in data: return f'![]({self.file(_text(data["image/svg+xml"]).encode(), "svg")})'
        for mime, ext in (('image/png', 'png'), ('image/jpeg', 'jpg')):
            if mime in data: return f'![]({self.file(base64.b64decode(_text(data[mime])), ext)})'
        if 'text/plain' in data: return _pre(_text(data['text/plain']))
        return ''

    def cell(self, cell)->str:
        if cell.cell_type == 'markdown':
            md = _text(cell.source or '')
            for name, bundle in (cell.get('attachments') or {}).items():  # pasted pictures
                mime = next(iter(bundle))
                ext = mime.split('/')[-1].split('+')[0]
                md = md.replace(f'attachment:{name}', self.file(base64.b64decode(_text(bundle[mime])), ext))
            return '' if md.startswith('<!-- WARNING') else self.links(md)
        if cell.cell_type != 'code' or not cell.get('source'): return ''
        opts, code = _split_directives(cell.source)
        if opts.get('include') == 'false': return ''
        parts = [] if opts.get('echo') == 'false' or not code else [f'```python\n{code}\n```']
        if opts.get('output') != 'false':
            outputs = [o for o in map(self.output, cell.get('outputs', [])) if o]
            parts += outputs if is_doc_cell(code) else map(_output_box, outputs)
        return '\n\n'.join(p for p in parts if p)

    def write(self, nb):
        fm = getattr(nb, 'frontmatter_', {}) or {}
        self.page.title = str(fm.get('title') or self.page.src.stem)
        self.page.description = str(fm.get('description') or '')
        head = f'# {self.page.title}\n\n' + (f'{self.page.description}\n{{: .nb-description }}\n\n' if self.page.description else '')
        body = '\n\n'.join(s for s in map(self.cell, nb.cells) if s.strip())
        (self.out / self.page.md).parent.mkdir(parents=True, exist_ok=True)
        (self.out / self.page.md).write_text(head + body + '\n')

# --- the site ----------------------------------------------------------------------------------------------------

# The sidebar after the home page, section by section, each page named by its path without suffix (`kd` is kd.html).
# A page not listed here goes at the end of the API reference (a notebook in a folder of nbs/, like tutorials/: at the
# end of the guides), so a new notebook is never left out of the sidebar; add it to its place in this list.
NAV = {
    'Guides': ['tutorials/distillation', 'reliability', 'tutorials/benchmarks'],
    'API reference': ['kd', 'hints', 'attention', 'cache', 'replay', 'self_distillation', 'report', 'deploy', 'quantize', 'losses',
                      'features', 'hooks', 'teacher', 'labelled', 'core', 'data', 'all'],
    'Internals': ['demo', 'testing'],
}

def nav(pages:list, nbs:Path)->list:
    "The sidebar: the home page, then the sections of `NAV` in its order, with any page it does not list added"
    by_name = {p.md.with_suffix('').as_posix(): p for p in pages if p.src != nbs / 'index.ipynb'}
    sections = {title: [by_name.pop(n) for n in names if n in by_name] for title, names in NAV.items()}
    for p in by_name.values():
        sections['Guides' if p.src.parent != nbs else 'API reference'].append(p)
    home = [{'Home': p.md.as_posix()} for p in pages if p.src == nbs / 'index.ipynb']
    return home + [{title: [{p.title: p.md.as_posix()} for p in ps]} for title, ps in sections.items() if ps]

def build(site:Path=ROOT / '_site')->list:
    "Process every notebook, write the pages into PAGES_DIR and build the site into `site`; return the pages"
    site = Path(site).resolve()
    from nbdev.config import get_config
    from mkdocs.commands.build import build as mkdocs_build
    from mkdocs.config import load_config
    os.chdir(ROOT)  # nbdev finds its config, and the notebooks their relative paths, from the project root
    cfg, procs = get_config(), _nbdev_procs()
    nbs, doc_url = Path(cfg.nbs_path).resolve(), f'{cfg.doc_host}{cfg.doc_baseurl}'.rstrip('/') + '/'
    shutil.rmtree(PAGES_DIR, ignore_errors=True)
    pages = {src.resolve(): page_for(src.resolve(), nbs) for src in notebooks(nbs)}
    for src, page in pages.items():
        print(f'processing {src.relative_to(ROOT)} -> {page.md.with_suffix(".html")}', flush=True)
        PageWriter(page, pages, PAGES_DIR, doc_url).write(process_nb(src, procs))
    for f in nbs.rglob('*'):  # pictures the notebooks link to
        if f.suffix.lower() in ('.png', '.jpg', '.jpeg', '.gif', '.svg', '.webp') and _visible(f, nbs):
            (PAGES_DIR / f.relative_to(nbs)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, PAGES_DIR / f.relative_to(nbs))
    (PAGES_DIR / 'fastkd.css').write_text(CSS)
    (PAGES_DIR / 'js').mkdir(exist_ok=True)
    shutil.copy2(IFRAME_WORKER, PAGES_DIR / 'js' / IFRAME_WORKER.name)  # mkdocs.yml `extra.polyfills`
    mkdocs_build(load_config(str(ROOT / 'mkdocs.yml'), nav=nav(list(pages.values()), nbs), site_dir=str(site)))
    return list(pages.values())

# --- MkDocs hook -------------------------------------------------------------------------------------------------

_MATH = re.compile(r'<(span|div) class="arithmatex">\s*\\[(\[](.*?)\\[)\]]\s*</\1>', re.S)
# latex2mathml sizes a delimiter after \big, \Big, \bigg, \Bigg (and their l/r/m forms) but leaves a delimiter that
# is a command (\lVert, \|, \langle, \{) as its raw TeX in the <mo>: such a delimiter becomes its character
_RAW_DELIMITER = re.compile(r'(<mo\b[^>]*>)\\([A-Za-z]+|[{}|])(</mo>)')

def tex_to_mathml(tex:str, display:bool=False)->str:
    "MathML for `tex`, delimiters sized with \\big...\\Bigg or \\left...\\right included"
    from latex2mathml.converter import convert
    from latex2mathml.symbols_parser import convert_symbol
    def delimiter(m): return f'{m[1]}&#x{code};{m[3]}' if (code := convert_symbol('\\' + m[2])) else m[0]
    return _RAW_DELIMITER.sub(delimiter, convert(tex, display='block' if display else 'inline'))

def on_page_content(html:str, **kwargs)->str:
    "MkDocs hook: TeX marked by pymdownx.arithmatex becomes MathML, which browsers render with no script or network"
    return _MATH.sub(lambda m: tex_to_mathml(unescape(m[2]), display=m[1] == 'div'), html)

if __name__ == '__main__':
    site = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / '_site'
    build(site)
    print(f'site written to {site}: open {site / "index.html"} in a browser (search works from disk too), '
          f'or serve it with `python -m http.server -d {site}`')
