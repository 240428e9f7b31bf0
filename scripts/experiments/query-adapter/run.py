import numpy as np, time, sys, json
from fit import *
D=load()
VARIANTS={
 'meandiff':   (lambda a: (lambda: MeanDiff(a)), [0.25,0.5,1.0,1.5,2.0]),
 'meandiff_type':(lambda a: (lambda: MeanDiff(a,True)), [0.25,0.5,1.0,1.5,2.0]),
 'centre':     (lambda b: (lambda: Centre(b)), [0.25,0.5,0.75,1.0]),
 'whiten':     (lambda g: (lambda: Whiten(g)), [0.3,0.6,0.9]),
}
for r in [8,16,32]:
    VARIANTS[f'lowrank{r}']=((lambda r: lambda lam: (lambda: Adapter(rank=r,lam=lam)))(r), [1e-3,1e-2,3e-2,1e-1,3e-1])
VARIANTS['full']=(lambda lam: (lambda: Adapter(rank=None,lam=lam)), [1e-3,1e-2,1e-1,1.0,10.0])
only=sys.argv[1:] or list(VARIANTS)
res={}; chosen={}
base={x:metrics(D[x]['Q'],D[x]) for x in data.SETS}
res['identity']=base
for name in only:
    mk,grid=VARIANTS[name]; res[name]={}; chosen[name]={}
    t0=time.time()
    for h in data.SETS:
        train=[x for x in data.SETS if x!=h]
        scores={g:inner_score(mk(g),train,D) for g in grid}
        best=max(grid,key=lambda g:scores[g])
        chosen[name][h]=(best,{str(k):round(v,3) for k,v in scores.items()})
        t1=time.time(); model=mk(best)().fit(train,D); ft=time.time()-t1
        res[name][h]=metrics(model.apply(D[h]['Q'],D[h]['types']),D[h])
    print(f'{name}: {time.time()-t0:.0f}s total, last fit {ft:.2f}s; chosen',{h:c[0] for h,c in chosen[name].items()},flush=True)
    for h,c in chosen[name].items(): print('   ',h,c[1])
import pickle; pickle.dump((res,chosen),open(f'/tmp/query-adapter/res_{"_".join(only)}.pkl','wb'))
def summ(r,types):
    out=[]
    for h in data.SETS:
        m=r[h][np.isin(D[h]['types'],types)]; out.append(m.mean(0))
    return np.array(out)  # (5 sets, 3 metrics)
print('\nMRR@5 per held-out set (all types) and per-type means over folds [hit1/hit3/mrr5]')
for name in ['identity']+only:
    a=summ(res[name],TYPES)
    row=' '.join(f'{v:.3f}' for v in a[:,2])
    pt=' | '.join(f'{t}:'+'/'.join(f'{v:.2f}' for v in summ(res[name],[t]).mean(0)) for t in TYPES)
    print(f'{name:14s} sets[{row}] mean {a[:,2].mean():.3f} h1 {a[:,0].mean():.3f} h3 {a[:,1].mean():.3f} || {pt}')
