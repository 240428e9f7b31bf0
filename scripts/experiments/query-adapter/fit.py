"""Query-side adapter experiment. LOSO over the five evalsets, hyperparameters chosen by
inner LOSO on the four training sets only."""
import numpy as np, time, sys, json, itertools
import data
TYPES=['ladder','star','story','search']
TAU=0.05

def load():
    D={}
    for s in data.SETS:
        d=data.get(s)
        c=np.bincount(d['owner'],minlength=len(d['notes'])); keep=np.where(c>0)[0]
        remap=-np.ones(len(c),int); remap[keep]=np.arange(len(keep))
        d['notes']=[d['notes'][i] for i in keep]; d['owner']=remap[d['owner']]
        d['qs']=[(t,q,[int(remap[g]) for g in gs]) for t,q,gs in d['qs']]
        n=len(d['notes']); owner=d['owner']
        starts=np.searchsorted(owner,np.arange(n))  # chunks contiguous per note
        assert np.all(np.diff(owner)>=0)
        d['starts']=starts; d['types']=np.array([q[0] for q in d['qs']]); d['gold']=[q[2] for q in d['qs']]
        D[s]=d
    return D

# ---------------- eval ----------------
def note_scores(Qp,d):
    S=Qp@d['C'].T                     # (nq, nchunks)
    return np.maximum.reduceat(S,d['starts'],axis=1)   # (nq, nnotes)

def metrics(Qp,d):
    NS=note_scores(Qp,d); out=[]
    order=np.argsort(-NS,axis=1)[:,:5]
    for i,g in enumerate(d['gold']):
        top=list(order[i]); gs=set(g)
        rk=next((k for k,x in enumerate(top) if x in gs),None)
        out.append((rk==0, rk is not None and rk<3, 0 if rk is None else 1/(rk+1)))
    return np.array(out,float)   # per query: hit1, hit3, mrr5

# ---------------- transforms ----------------
def nrm(X): return X/np.linalg.norm(X,axis=1,keepdims=True)

def pos_chunk_mean(sets,D):
    """best-scoring chunk (identity) of each gold note, averaged per query, then over queries"""
    P=[];Q=[];T=[]
    for s in sets:
        d=D[s]
        for i,g in enumerate(d['gold']):
            v=[]
            for n in g:
                a,b=d['starts'][n], (d['starts'][n+1] if n+1<len(d['starts']) else len(d['owner']))
                cs=d['C'][a:b]; v.append(cs[np.argmax(cs@d['Q'][i])])
            P.append(np.mean(v,0)); Q.append(d['Q'][i]); T.append(d['types'][i])
    return np.array(P),np.array(Q),np.array(T)

class MeanDiff:
    def __init__(s,alpha,per_type=False): s.alpha=alpha; s.per_type=per_type
    def fit(s,sets,D):
        P,Q,T=pos_chunk_mean(sets,D)
        s.d={None:P.mean(0)-Q.mean(0)}
        if s.per_type:
            for t in TYPES: s.d[t]=P[T==t].mean(0)-Q[T==t].mean(0)
        return s
    def apply(s,Q,types):
        if not s.per_type: return nrm(Q+s.alpha*s.d[None])
        return nrm(Q+s.alpha*np.array([s.d[t] for t in types]))

class Centre:
    def __init__(s,beta): s.beta=beta
    def fit(s,sets,D):
        s.mu=np.concatenate([D[x]['Q'] for x in sets]).mean(0); return s
    def apply(s,Q,types): return nrm(Q-s.beta*s.mu)

class Whiten:
    """q' = normalise(W (q-mu)), W = (cov + eps I)^-1/2 shrunk: W = (1-g) I + g * Cov^-1/2 scaled"""
    def __init__(s,shrink): s.g=shrink
    def fit(s,sets,D):
        X=np.concatenate([D[x]['Q'] for x in sets]); s.mu=X.mean(0); Xc=X-s.mu
        C=Xc.T@Xc/len(X); C=(1-s.g)*C+s.g*np.trace(C)/len(C)*np.eye(len(C))
        w,V=np.linalg.eigh(C); s.W=V@np.diag(w**-0.5)@V.T; return s
    def apply(s,Q,types): return nrm((Q-s.mu)@s.W)

class Adapter:
    """q' = normalise(q + A q); A = U V^T (rank r) or full W. InfoNCE over chunks of the query's own vault."""
    def __init__(s,rank=None,lam=1e-2,steps=300,lr=1e-2,loss='chunk',seed=0):
        s.r=rank; s.lam=lam; s.steps=steps; s.lr=lr; s.loss=loss; s.seed=seed
    def A(s): return s.U@s.V.T if s.r else s.W
    def apply(s,Q,types): return nrm(Q+Q@s.A().T)
    def fit(s,sets,D):
        rng=np.random.default_rng(s.seed); dim=384
        if s.r: s.U=np.zeros((dim,s.r)); s.V=rng.normal(0,1/np.sqrt(dim),(dim,s.r)); params=['U','V']
        else: s.W=np.zeros((dim,dim)); params=['W']
        m={p:0 for p in params}; v={p:0 for p in params}
        # positives mask per set
        batches=[]
        for x in sets:
            d=D[x]; M=np.zeros((len(d['gold']),len(d['owner'])),bool)
            for i,g in enumerate(d['gold']): M[i]=np.isin(d['owner'],g)
            batches.append((d['Q'].astype(np.float32),d['C'].astype(np.float32),M,d))
        nq=sum(len(b[0]) for b in batches)
        for t in range(1,s.steps+1):
            A=s.A() if not s.r else None; gA=np.zeros((dim,dim)) if not s.r else None; gUV=[0,0]; L=0
            for Q,C,M,d in batches:
                if s.r: QV=Q@s.V; Z=Q+QV@s.U.T
                else: Z=Q+Q@A.T
                nz=np.linalg.norm(Z,axis=1,keepdims=True); Qp=Z/nz
                S=Qp@C.T/TAU
                if s.loss=='chunk':
                    logits=S; PM=M
                else:  # note-level: max over chunks
                    logits=np.maximum.reduceat(S,d['starts'],axis=1)
                    PM=np.zeros_like(logits,bool)
                    for i,g in enumerate(d['gold']): PM[i,g]=True
                mx=logits.max(1,keepdims=True); e=np.exp(logits-mx)
                p=e/e.sum(1,keepdims=True)
                pp=np.where(PM,p,0); ps=pp.sum(1,keepdims=True)
                L+=-np.log(ps+1e-30).sum()
                G=p-pp/ps       # dL/dlogits
                if s.loss!='chunk':
                    # route to argmax chunk of each note
                    Gc=np.zeros_like(S); n=S.shape[1]
                    owner=d['owner']; 
                    mxn=np.repeat(logits,np.diff(np.append(d['starts'],n)),axis=1)
                    hit=(S>=mxn)   # argmax chunk(s) of each note
                    Gc=np.repeat(G,np.diff(np.append(d['starts'],n)),axis=1)*hit; G=Gc
                gQp=G@C/TAU
                gZ=(gQp-Qp*(gQp*Qp).sum(1,keepdims=True))/nz
                if s.r: gUV[0]=gUV[0]+gZ.T@QV; gUV[1]=gUV[1]+Q.T@(gZ@s.U)
                else: gA+=gZ.T@Q
            L/=nq
            if s.r:
                grads={'U':gUV[0]/nq+2*s.lam*s.U,'V':gUV[1]/nq+2*s.lam*s.V}
            else:
                grads={'W':gA/nq+2*s.lam*s.W}
            for p in params:
                g=grads[p]; m[p]=0.9*m[p]+0.1*g; v[p]=0.999*v[p]+0.001*g*g
                mh=m[p]/(1-0.9**t); vh=v[p]/(1-0.999**t)
                setattr(s,p,getattr(s,p)-s.lr*mh/(np.sqrt(vh)+1e-8))
        s.final_loss=L
        return s

class Identity:
    def fit(s,sets,D): return s
    def apply(s,Q,types): return Q

def evaluate(model,sets,D):
    return {x:metrics(model.apply(D[x]['Q'],D[x]['types']),D[x]) for x in sets}

def inner_score(make,train,D):
    """mean MRR@5 over inner LOSO folds of the training sets (all query types pooled)"""
    sc=[]
    for h in train:
        tr=[x for x in train if x!=h]
        r=metrics(make().fit(tr,D).apply(D[h]['Q'],D[h]['types']),D[h]); sc.append(r[:,2].mean())
    return np.mean(sc)
