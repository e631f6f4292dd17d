#!/usr/bin/env python3
"""The peer for txguard's feature engine + XGBoost on the fraud handbook's data: the handbook's own
feature code style (pandas groupby + time-based rolling windows, chapter 3) and XGBoost 1.7 (Python),
timed stage by stage. Prints one JSON object.

  /usr/bin/python3 scripts/bench/handbook_peer.py TRANSACTIONS.csv[.gz] [--trees 300] [--threads 2]

Features: the handbook's 15 baseline features (PROTOCOL.md), computed over the whole file.
Training: 2018-07-25 .. 2018-07-31; test 2018-08-08 .. 2018-08-14 after removing known-compromised
cards (delay 7 days), as in PROTOCOL.md; ROC-AUC, AP and CP@100 for cross-checking txguard.
"""
import argparse, json, resource, sys, time

import numpy as np
import pandas as pd


def customer_features(g):
    g = g.sort_values('TX_DATETIME').set_index('TX_DATETIME')
    out = {}
    for w in (1, 7, 30):
        out[f'CUSTOMER_ID_NB_TX_{w}DAY_WINDOW'] = g['TX_AMOUNT'].rolling(f'{w}d').count().values
        out[f'CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW'] = g['TX_AMOUNT'].rolling(f'{w}d').mean().values
    return pd.DataFrame(out, index=g['TRANSACTION_ID'].values)


def terminal_features(g, delay=7):
    g = g.sort_values('TX_DATETIME').set_index('TX_DATETIME')
    nf_d = g['TX_FRAUD'].rolling(f'{delay}d').sum()
    nt_d = g['TX_FRAUD'].rolling(f'{delay}d').count()
    out = {}
    for w in (1, 7, 30):
        nf = g['TX_FRAUD'].rolling(f'{delay + w}d').sum() - nf_d
        nt = g['TX_FRAUD'].rolling(f'{delay + w}d').count() - nt_d
        out[f'TERMINAL_ID_NB_TX_{w}DAY_WINDOW'] = nt.values
        out[f'TERMINAL_ID_RISK_{w}DAY_WINDOW'] = (nf / nt).fillna(0).values
    return pd.DataFrame(out, index=g['TRANSACTION_ID'].values)


def card_precision_at_k(df, k=100):
    days = sorted(df.day.unique())
    detected, values = set(), []
    for d in days:
        g = df[(df.day == d) & (~df.CUSTOMER_ID.isin(detected))]
        g = g.groupby('CUSTOMER_ID')[['pred', 'TX_FRAUD']].max().sort_values('pred', ascending=False)
        top = g.head(k)
        found = set(top[top.TX_FRAUD == 1].index)
        values.append(len(found) / k)
        detected |= found
    return float(np.mean(values))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('data')
    ap.add_argument('--trees', type=int, default=300)
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score, average_precision_score
    t = {}
    t0 = time.perf_counter()
    df = pd.read_csv(a.data, parse_dates=['TX_DATETIME'])
    t['read_s'] = time.perf_counter() - t0
    t0 = time.perf_counter()
    df['TX_DURING_WEEKEND'] = (df.TX_DATETIME.dt.weekday >= 5).astype(int)
    df['TX_DURING_NIGHT'] = (df.TX_DATETIME.dt.hour <= 6).astype(int)
    cf = df.groupby('CUSTOMER_ID', group_keys=False).apply(customer_features)
    tf = df.groupby('TERMINAL_ID', group_keys=False).apply(terminal_features)
    df = df.set_index('TRANSACTION_ID').join(cf).join(tf).reset_index()
    t['features_s'] = time.perf_counter() - t0
    feats = ['TX_AMOUNT', 'TX_DURING_WEEKEND', 'TX_DURING_NIGHT'] + list(cf.columns) + list(tf.columns)
    day = df.TX_DATETIME.dt.normalize()
    df['day'] = day
    train = df[(day >= '2018-07-25') & (day <= '2018-07-31')]
    t0 = time.perf_counter()
    model = xgb.XGBClassifier(n_estimators=a.trees, tree_method='hist', n_jobs=a.threads,
                              random_state=0)
    model.fit(train[feats].values, train.TX_FRAUD.values)
    t['train_s'] = time.perf_counter() - t0
    # Test week with known-compromised cards removed (delay 7).
    known = set(train[train.TX_FRAUD == 1].CUSTOMER_ID)
    parts = []
    for i in range(7):
        d = pd.Timestamp('2018-08-08') + pd.Timedelta(days=i)
        delay_day = pd.Timestamp('2018-08-01') + pd.Timedelta(days=i - 1)
        known |= set(df[(day == delay_day) & (df.TX_FRAUD == 1)].CUSTOMER_ID)
        part = df[day == d]
        parts.append(part[~part.CUSTOMER_ID.isin(known)])
    test = pd.concat(parts)
    test = test.assign(pred=model.predict_proba(test[feats].values)[:, 1])
    print(json.dumps(dict(
        rows=int(len(df)), test_rows=int(len(test)), n_features=len(feats), **t,
        features_and_train_s=t['features_s'] + t['train_s'],
        roc_auc=float(roc_auc_score(test.TX_FRAUD, test.pred)),
        average_precision=float(average_precision_score(test.TX_FRAUD, test.pred)),
        card_precision_at_100=card_precision_at_k(test),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)), flush=True)


if __name__ == '__main__':
    main()
