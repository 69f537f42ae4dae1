"""Seed 8 trained twice at the slides' settings: on an AMX Xeon (xeon/) and on an AVX2-only EPYC (epyc/).

python results/rerun_seed8_avx2/compare.py  prints the per-epoch FID of both and the paired differences.
"""
import csv
import pathlib

HERE = pathlib.Path(__file__).parent
RUNS = ('lsgan_a-1_b1_c0_seed8', 'lsgan_reg_a-1_b1_c0_lam0.5_seed8')


def fid_by_epoch(path):
    return {int(row['epoch']): float(row['fid']) for row in csv.DictReader(open(path))}


def main():
    xeon = [fid_by_epoch(HERE / 'xeon' / run / 'metrics.csv') for run in RUNS]
    epyc = [fid_by_epoch(HERE / 'epyc' / run / 'metrics.csv') for run in RUNS]
    epochs = sorted(set(xeon[0]) & set(xeon[1]) & set(epyc[0]) & set(epyc[1]))
    print('| epoch | LSGAN, Xeon | LSGAN, EPYC | regularized, Xeon | regularized, EPYC '
          '| difference, Xeon | difference, EPYC |')
    print('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
    for e in epochs:
        print(f'| {e} | {xeon[0][e]:.1f} | {epyc[0][e]:.1f} | {xeon[1][e]:.1f} | {epyc[1][e]:.1f} '
              f'| {xeon[0][e] - xeon[1][e]:.1f} | {epyc[0][e] - epyc[1][e]:.1f} |')


if __name__ == '__main__':
    main()
