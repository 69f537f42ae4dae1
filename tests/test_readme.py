"""The README's result tables are the committed tables, and those are what the code draws from
the committed CSVs: a number in the README can always be traced back to a logged value."""
import re

import pytest

import config
import evaluate
import utils
from studies import compare
from studies import gradcheck
from studies import mechanism
from studies import rerun
from studies import toy
from conftest import ROOT

RESULTS = ROOT / 'results'


def study_page(**settings):
    """RESULTS.md as `bash run_study.sh --merge` (or the README's compare command) draws it."""
    return compare.study_page(config.Config(checkpoint_dir=str(RESULTS / 'runs'),
                                            sample_dir=str(RESULTS / 'runs'), **settings))


def regenerated():
    """{committed table file: the text its code draws from the committed CSVs}."""
    pages = {RESULTS / 'RESULTS.md': study_page(seeds=tuple(range(10))),
             RESULTS / 'mixed' / 'RESULTS.md': study_page(seeds=(0,), precision='mixed')}
    for data in ('ring8', 'disjoint'):
        rows = utils.read_csv(RESULTS / 'toy' / f'{data}.csv')
        pages[RESULTS / 'toy' / f'{data}.md'] = toy.final_table(
            rows, data, max(int(r['step']) for r in rows))
    for path in (RESULTS / 'gradcheck').glob('*.csv'):
        rows = utils.read_csv(path)
        pages[path.with_suffix('.md')] = gradcheck.summary_table(
            rows, sorted({int(r['d_steps']) for r in rows}))
    runs = RESULTS / 'mechanism' / 'runs'
    if runs.exists():
        cfg = config.Config(seeds=mechanism.SEEDS, checkpoint_dir=str(runs))
        pages[RESULTS / 'mechanism' / 'MECHANISM.md'] = mechanism.page(
            *mechanism.results(cfg), cfg.seeds,
            mechanism.final_sample_pairs(cfg, runs / evaluate.FINAL_SCORES))
    return pages


PAGES = regenerated()


@pytest.mark.parametrize('path', PAGES, ids=lambda path: str(path.relative_to(ROOT)))
def test_committed_table_is_what_its_csvs_give(path):
    assert path.read_text() == PAGES[path]


@pytest.mark.parametrize('folder, report', [('rerun_seed8_avx2', rerun.report), ('rerun_seed9', rerun.seed9_report)])
def test_rerun_numbers_are_what_its_csvs_give(folder, report):
    """results/rerun_seed8_avx2/README.md quotes `python -m studies.rerun` whole, and
    results/rerun_seed9/README.md `python -m studies.rerun seed9`."""
    assert report() in (RESULTS / folder / 'README.md').read_text()


def tables(markdown):
    """Every block of consecutive table lines."""
    return re.findall(r'(?:^\|.*\|\n)+', markdown, flags=re.M)


def test_result_tables_of_readme_and_docs_are_committed_tables():
    """Every table of the README, docs/study.md and docs/gradients.md but the few that are
    not results (the README's file and document tables) is in a committed results file."""
    committed = '\n'.join(p.read_text() for p in RESULTS.rglob('*.md'))
    blocks = [block for name in ('README.md', 'docs/study.md', 'docs/gradients.md')
              for block in tables((ROOT / name).read_text())
              if not block.startswith(('| path |', '| document |', '| file |'))]
    assert len(blocks) >= 8
    for block in blocks:
        assert '\n' + block in '\n' + committed, f'table not in any committed results file:\n{block}'


DOCUMENTS = [ROOT / 'README.md', *sorted((ROOT / 'docs').glob('*.md'))]


def anchor(heading):
    """GitHub's anchor of a markdown heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')


def relative_links(markdown):
    """(text, target) of every link that is not a web address."""
    return [(text, target) for text, target in re.findall(r'\[([^\]]*)\]\(([^)\s]+)\)', markdown)
            if not re.match(r'^[a-z]+:', target)]


@pytest.mark.parametrize('document', DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves(document):
    """Each link names a file of the repository and, after a #, a heading of that file."""
    for text, target in relative_links(document.read_text()):
        path, _, fragment = target.partition('#')
        linked = (document.parent / path).resolve() if path else document
        assert linked.exists(), f'[{text}]({target}): no {linked}'
        if fragment:
            headings = re.findall(r'^#+ (.*)$', linked.read_text(), flags=re.M)
            assert fragment in {anchor(h) for h in headings}, f'[{text}]({target}): no such heading'


def test_every_document_opens_with_its_title_and_a_summary():
    for document in DOCUMENTS[1:]:
        title, summary = document.read_text().split('\n\n')[:2]
        assert title.startswith('# ') and title.endswith('?'), document  # the question it answers
        assert not summary.startswith('#') and len(summary.split()) >= 15, document
