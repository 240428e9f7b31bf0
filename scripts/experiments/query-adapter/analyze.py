import glob, pickle, numpy as np
from fit import *
D=load()
R={}
for f in sorted(glob.glob('/tmp/query-adapter/res_*.pkl')):
    R.update(pickle.load(open(f,'rb'))[0])
# derived: full adapter only on abstract queries (search queries left as identity)
R['full_abstract_only']={h:np.where((D[h]['types']=='search')[:,None],R['identity'][h],R['full'][h]) for h in data.SETS}
names=['identity','centre','whiten','meandiff','meandiff_type','lowrank8','lowrank16','lowrank32','full','full_abstract_only']
# near-duplicate mask: held-out queries whose max cosine to any other-set query > 0.8
dup={}
for h in data.SETS:
    O=np.concatenate([D[x]['Q'] for x in data.SETS if x!=h]); dup[h]=(D[h]['Q']@O.T).max(1)>0.8
def agg(r,mask_fn):
    per=[r[h][mask_fn(h)].mean(0) for h in data.SETS]; return np.array(per)
print('MRR@5 by held-out fold, all query types; mean over folds; pooled hit@1/hit@3/MRR@5')
print('%-19s'%'variant'+''.join('%9s'%h[:8] for h in data.SETS)+'   mean  | h1    h3    mrr   | dMRR [95% boot CI]  win/loss  folds+')
rng=np.random.default_rng(0)
for n in names:
    a=agg(R[n],lambda h: np.ones(len(D[h]['types']),bool))
    pooled=np.concatenate([R[n][h] for h in data.SETS]); base=np.concatenate([R['identity'][h] for h in data.SETS])
    d=pooled[:,2]-base[:,2]; bs=[d[rng.integers(0,len(d),len(d))].mean() for _ in range(2000)]
    folds=sum(a[i,2]>agg(R['identity'],lambda h: np.ones(len(D[h]['types']),bool))[i,2] for i in range(5))
    print('%-19s'%n+''.join('%9.3f'%v for v in a[:,2])+'  %.3f  | %.3f %.3f %.3f | %+.3f [%+.3f,%+.3f] %3d/%-3d  %d/5'%(a[:,2].mean(),*pooled.mean(0),d.mean(),*np.percentile(bs,[2.5,97.5]),(d>0).sum(),(d<0).sum(),folds))
print('\nPer query type, pooled over the five held-out folds: hit@1 / hit@3 / MRR@5 (n)')
for n in names:
    row=[]
    for t in TYPES:
        m=np.concatenate([R[n][h][D[h]['types']==t] for h in data.SETS]); row.append('%-6s %.2f/%.2f/%.2f (%d)'%(t,*m.mean(0),len(m)))
    print('%-19s'%n+' | '.join(row))
print('\nSensitivity: excluding held-out queries with a near-duplicate (cos>0.8) in another set (%d of %d dropped)'%(sum(x.sum() for x in dup.values()),sum(len(x) for x in dup.values())))
for n in names:
    pooled=np.concatenate([R[n][h][~dup[h]] for h in data.SETS]); print('%-19s h1 %.3f h3 %.3f mrr %.3f'%(n,*pooled.mean(0)))
print('\nPer fold x type MRR@5, identity -> full')
for h in data.SETS:
    print('%-15s'%h+'  '.join('%s %.2f->%.2f'%(t,R['identity'][h][D[h]['types']==t][:,2].mean(),R['full'][h][D[h]['types']==t][:,2].mean()) for t in TYPES))
