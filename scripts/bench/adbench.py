#!/usr/bin/env python3
"""txguard's detectors against scikit-learn on the ADBench datasets, in one run.

Protocol (both sides): fit on all rows, score all rows; time = fit + score (data loading excluded),
memory = peak RSS of the process (each run is its own process). txguard runs through
`bench_detect adbench` (Detector::FitScore); scikit-learn through ../shared/peers/sklearn_adbench.py
(unchanged). Exactness (--exact): knn and lof scores of txguard are compared with scikit-learn's
(computed again here, untimed) and DBSCAN labels with scikit-learn's DBSCAN at txguard's eps.

Prints the JSON lines as they come (stderr) and a markdown table at the end (stdout).
  adbench.py --bench build/release/bench/bench_detect [--data DIR] [--only a,b]
             [--methods iforest,knn,lof,dbscan,ecod] [--seeds 0,1,2] [--repeats 1] [--exact]
"""
import argparse, glob, json, os, statistics, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
PEER = os.path.join(ROOT, '..', 'shared', 'peers', 'sklearn_adbench.py')
PY = '/usr/bin/python3'


def run_json(cmd, timeout):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(error=f'timeout {timeout}s')
    lines = [l for l in p.stdout.splitlines() if l.startswith('{')]
    if not lines:
        return dict(error=(p.stderr or p.stdout).strip()[-300:])
    return json.loads(lines[-1])


EXACT = r'''
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from sklearn_adbench import load, zscore
path, method, dump = sys.argv[2], sys.argv[3], sys.argv[4]
X, y = load(path)
Xs = zscore(X)
ours = np.fromfile(dump, dtype='<f8')
out = {}
if method == 'knn':
    from sklearn.neighbors import NearestNeighbors
    d, _ = NearestNeighbors(n_neighbors=5).fit(Xs).kneighbors()
    ref = d[:, -1]
elif method == 'lof':
    from sklearn.neighbors import LocalOutlierFactor
    ref = -LocalOutlierFactor(n_neighbors=20).fit(Xs).negative_outlier_factor_
elif method == 'dbscan':
    from sklearn.cluster import DBSCAN
    eps = float(sys.argv[5])
    labels = DBSCAN(eps=eps, min_samples=10).fit_predict(Xs)
    mine = np.fromfile(dump + '.labels', dtype='<i4')
    out['labels_equal'] = bool(np.array_equal(labels, mine))
    out['label_mismatches'] = int((labels != mine).sum())
    out['noise_equal'] = bool(np.array_equal(labels == -1, ours > 1.0))
    print(json.dumps(out)); sys.exit(0)
rel = np.abs(ours - ref) / np.maximum(np.abs(ref), 1e-300)
rel[(ours == ref)] = 0.0
out['max_rel_err'] = float(rel.max())
out['rows_within_1e-6'] = float((rel <= 1e-6).mean())
print(json.dumps(out))
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bench', required=True)
    ap.add_argument('--data', default=os.path.join(ROOT, '..', 'shared', 'data', 'adbench'))
    ap.add_argument('--only', default='')
    ap.add_argument('--methods', default='iforest,knn,lof,dbscan,ecod')
    ap.add_argument('--seeds', default='0,1,2')
    ap.add_argument('--repeats', type=int, default=1)
    ap.add_argument('--timeout', type=int, default=900)
    ap.add_argument('--exact', action='store_true')
    ap.add_argument('--json-out', default='')
    a = ap.parse_args()
    only = set(filter(None, a.only.split(',')))
    seeds = [int(s) for s in a.seeds.split(',')]
    paths = sorted(glob.glob(os.path.join(a.data, '*.csv')), key=lambda p: -os.path.getsize(p))
    rows = []
    tmp = tempfile.mkdtemp(prefix='txg_adbench_')
    jout = open(a.json_out, 'w') if a.json_out else None
    for path in paths:
        name = os.path.basename(path)[:-4]
        if only and name not in only:
            continue
        for method in a.methods.split(','):
            for seed in (seeds if method == 'iforest' else [0]):
                rec = dict(dataset=name, method=method, seed=seed, ours=[], peer=[])
                dump = os.path.join(tmp, f'{name}_{method}.bin')
                for rep in range(a.repeats):
                    cmd = [a.bench, 'adbench', path, method, '--dump', dump]
                    if method == 'iforest':
                        cmd += ['--param', f'seed={seed}']
                    rec['ours'].append(run_json(cmd, a.timeout))
                    if method != 'ecod':  # no scikit-learn ECOD
                        rec['peer'].append(run_json([PY, PEER, '--worker', path, method, '--jobs', '-1',
                                                     '--seed', str(seed)], a.timeout))
                if a.exact and method in ('knn', 'lof', 'dbscan') and 'error' not in rec['ours'][0]:
                    extra = [str(rec['ours'][0].get('eps', ''))] if method == 'dbscan' else []
                    rec['exact'] = run_json([PY, '-c', EXACT, os.path.dirname(PEER), path, method, dump]
                                            + extra, a.timeout)
                print(json.dumps(rec), file=sys.stderr, flush=True)
                if jout:
                    print(json.dumps(rec), file=jout, flush=True)
                rows.append(rec)
    print(table(rows))


def med(runs, key):
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else None


def fmt(v, spec):
    return '—' if v is None else format(v, spec)


def table(rows):
    out = ['| dataset | method | n | txguard AUC | sklearn AUC | txguard AP | sklearn AP | txguard s | '
           'sklearn s | speed-up | txguard MB | sklearn MB | exact |',
           '|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    groups = {}
    for r in rows:
        groups.setdefault((r['dataset'], r['method']), []).append(r)
    for (ds, m), recs in groups.items():
        ours = [x for r in recs for x in r['ours']]
        peer = [x for r in recs for x in r['peer']]
        # AUC/AP: mean over seeds (each seed's runs are identical); time/memory: median of runs.
        def mean_metric(side, key):
            vals = [statistics.median([x[key] for x in r[side] if key in x]) for r in recs
                    if any(key in x for x in r[side])]
            return statistics.mean(vals) if vals else None
        auc_key = 'roc_auc'
        t_o, t_p = med(ours, 'seconds'), med(peer, 'seconds')
        n = next((x['n'] for x in ours + peer if 'n' in x), None)
        exact = recs[0].get('exact', {})
        if 'labels_equal' in exact:
            ex = 'labels equal' if exact['labels_equal'] else f"{exact.get('label_mismatches')} labels differ"
        elif 'rows_within_1e-6' in exact:
            ex = f"{100 * exact['rows_within_1e-6']:.3f}% rows ≤1e-6 (max {exact['max_rel_err']:.1e})"
        else:
            ex = exact.get('error', '')[:60] if exact else ''
        err = next((x['error'][:60] for x in peer if 'error' in x), None)
        out.append('| ' + ' | '.join([
            ds, m, str(n), fmt(mean_metric('ours', auc_key), '.4f'),
            fmt(mean_metric('peer', auc_key), '.4f') if not err else err,
            fmt(mean_metric('ours', 'average_precision'), '.4f'),
            fmt(mean_metric('peer', 'average_precision'), '.4f'),
            fmt(t_o, '.3f'), fmt(t_p, '.3f'),
            (fmt(t_p / t_o, '.1f') + '×') if t_o and t_p else '—',
            fmt(med(ours, 'peak_rss_mb'), '.0f'), fmt(med(peer, 'peak_rss_mb'), '.0f'), ex]) + ' |')
    return '\n'.join(out)


if __name__ == '__main__':
    main()
