"""Score the adapter fitted on the five own sets (full_adapter_W.npy) on sets it never saw:
data/heldout/* and the shared dev set. Aggregate figures only."""
import numpy as np, os, sys
import data, fit
W=np.load('/tmp/query-adapter/full_adapter_W.npy')
for root,s in [(os.path.join(data.REPO,'data','heldout'),'platform-em'),(os.path.join(data.REPO,'data','heldout'),'mobile-lead'),(os.path.join(data.REPO,'..','shared'),'devset')]:
    data.ROOT=root; data.OUT='/tmp/query-adapter/cache_unseen'
    data.SETS=[s]
    D=fit.load(); d=D[s]
    Q=d['Q']; Qa=fit.nrm(Q+Q@W.T)
    mi=fit.metrics(Q,d); ma=fit.metrics(Qa,d)
    line=f'{s:12s} all MRR {mi[:,2].mean():.3f} -> {ma[:,2].mean():.3f} |'
    for t in fit.TYPES:
        m=d['types']==t
        if m.sum(): line+=f' {t}({m.sum()}): h1 {mi[m,0].mean():.2f}->{ma[m,0].mean():.2f} h3 {mi[m,1].mean():.2f}->{ma[m,1].mean():.2f} mrr {mi[m,2].mean():.2f}->{ma[m,2].mean():.2f} |'
    print(line)
