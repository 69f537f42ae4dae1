"""The README's result tables are the committed tables, and those are what the code draws from
the committed CSVs: a number in the README can always be traced back to a logged value."""
import re

import pytest

import compare
import config
import gradcheck
import mechanism
import toy
import utils
from conftest import ROOT

RESULTS = ROOT / 'results'


def study_page(**settings):
    """RESULTS.md as `bash run_study.sh --merge` (or the README's compare command) draws it."""
    return compare.study_page(config.Config(checkpoint_dir=str(RESULTS / 'runs'),
                                            sample_dir=str(RESULTS / 'runs'), **settings))


def regenerated():
    """{committed table file: the text its code draws from the committed CSVs}."""
    pages = {RESULTS / 'RESULTS.md': study_page(seeds=(0, 1, 2)),
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
        pages[RESULTS / 'mechanism' / 'MECHANISM.md'] = mechanism.page(*mechanism.results(cfg), cfg.seeds)
    return pages


PAGES = regenerated()


@pytest.mark.parametrize('path', PAGES, ids=lambda path: str(path.relative_to(ROOT)))
def test_committed_table_is_what_its_csvs_give(path):
    assert path.read_text() == PAGES[path]


def tables(markdown):
    """Every block of consecutive table lines."""
    return re.findall(r'(?:^\|.*\|\n)+', markdown, flags=re.M)


def test_readme_result_tables_are_committed_tables():
    readme = (ROOT / 'README.md').read_text()
    results = readme[readme.index('\n## Results'):readme.index('\n## Metrics')]
    committed = '\n'.join(p.read_text() for p in RESULTS.rglob('*.md'))
    blocks = tables(results)
    assert len(blocks) >= 4
    for block in blocks:
        assert block in committed, f'README table not in any committed results file:\n{block}'
