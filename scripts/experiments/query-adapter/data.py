import json, re, os, glob, time, numpy as np

# ONNX Runtime's telemetry off, as starling itself does (README, first paragraph).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
import onnxruntime as ort
from tokenizers import Tokenizer
P=os.path.join(os.environ.get('STARLING_MODELS_DIR') or os.path.join(os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'starling', 'models'), 'all-MiniLM-L6-v2', '')
REPO=os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
ROOT=os.path.join(REPO, 'data', 'evalsets')
SETS=['backend-ic','data-lead','product-lead','sre-lead','staff-frontend']
OUT='/tmp/query-adapter/cache'
tok=Tokenizer.from_file(P+'tokenizer.json'); tok.enable_truncation(256); tok.no_padding()
def ntok(s): return len(tok.encode(s, add_special_tokens=False).ids)

def embed(texts, bs=8):
    so=ort.SessionOptions(); so.intra_op_num_threads=2; so.inter_op_num_threads=1
    s=ort.InferenceSession(P+'model.onnx',so,providers=['CPUExecutionProvider'])
    names=[i.name for i in s.get_inputs()]
    order=sorted(range(len(texts)),key=lambda i: len(texts[i])); res=[None]*len(texts)
    for b in range(0,len(order),bs):
        ids=order[b:b+bs]
        enc=tok.encode_batch([texts[i] for i in ids]); L=max(len(e.ids) for e in enc)
        a=np.array([e.ids+[0]*(L-len(e.ids)) for e in enc],np.int64); am=np.array([e.attention_mask+[0]*(L-len(e.ids)) for e in enc],np.int64)
        feed={'input_ids':a,'attention_mask':am}
        if 'token_type_ids' in names: feed['token_type_ids']=np.zeros_like(a)
        h=s.run(None,feed)[0]
        v=(h*am[:,:,None]).sum(1)/am.sum(1,keepdims=True); v/=np.linalg.norm(v,axis=1,keepdims=True)
        for i,j in enumerate(ids): res[j]=v[i]
    return np.array(res,np.float32)

def blocks(md):
    """yield (heading_path list, block_text, is_table_row)"""
    title=None
    if md.startswith('---'):
        end=md.find('\n---',3)
        fm=md[3:end]; md=md[end+4:]
        m=re.search(r'^title:\s*(.+)$',fm,re.M)
        if m: title=m.group(1).strip().strip('"\'')
    heads=[]; out=[]; cur=[]; incode=False
    def flush():
        if cur:
            t='\n'.join(cur).strip()
            if t: out.append((list(heads),t,False))
            cur.clear()
    for line in md.split('\n'):
        if line.strip().startswith('```'):
            incode=not incode; cur.append(line); continue
        if incode: cur.append(line); continue
        m=re.match(r'^(#{1,6})\s+(.*)$',line)
        if m:
            flush(); lvl=len(m.group(1)); heads=heads[:lvl-1]+['']*max(0,lvl-1-len(heads)); heads=heads[:lvl-1]+[m.group(2).strip()]
            heads=[h for h in heads]
            if title is None and lvl==1: title=m.group(2).strip()
            continue
        if not line.strip(): flush(); continue
        if line.lstrip().startswith('|'):
            flush()
            if not re.match(r'^\s*\|[\s\-:|]+\|\s*$',line): out.append((list(heads),line.strip(),True))
            continue
        if re.match(r'^\s*([-*+]|\d+[.)])\s+',line) and not line.startswith((' ','\t')): flush()
        cur.append(line)
    flush()
    return title,out

def chunk_note(md, fallback_title, maxtok=100):
    title,bl=blocks(md); title=title or fallback_title
    chunks=[]; pend=[]; pt=0; ph=None
    def emit(h,text):
        hp=[x for x in h if x]
        if hp and hp[0]==title: hp=hp[1:]
        chunks.append(' > '.join([title]+hp)+'\n'+text)
    def fl():
        nonlocal pend,pt,ph
        if pend: emit(ph,'\n'.join(pend))
        pend=[]; pt=0; ph=None
    for h,t,isrow in bl:
        n=ntok(t)
        if isrow: fl(); emit(h,t); continue
        if pend and (h!=ph or pt+n>maxtok): fl()
        if n>maxtok:
            # split by sentences/words
            words=t.split(); piece=[]
            for w in words:
                piece.append(w)
                if len(piece)>=70: emit(h,' '.join(piece)); piece=[]
            if piece: emit(h,' '.join(piece))
            continue
        pend.append(t); pt+=n; ph=h
    fl()
    return chunks

def load_set(s):
    v=f'{ROOT}/{s}/vault'
    notes=sorted(os.path.relpath(f,v) for f in glob.glob(v+'/**/*.md',recursive=True))
    texts=[]; owner=[]
    for i,n in enumerate(notes):
        cs=chunk_note(open(f'{v}/{n}',errors='ignore').read(), os.path.basename(n)[:-3])
        texts+=cs; owner+=[i]*len(cs)
    qs=[]  # (type, query, gold note idx list)
    idx={n:i for i,n in enumerate(notes)}
    def g(lst):
        r=[idx[x] for x in lst if x in idx]
        miss=[x for x in lst if x not in idx]
        if miss: print('MISSING',s,miss)
        return r
    for it in json.load(open(f'{ROOT}/{s}/rubric_truth.json'))['items']:
        if not it.get('none') and it['evidence']: qs.append(('ladder',it['item'],g(it['evidence'])))
    for it in json.load(open(f'{ROOT}/{s}/star_cases.json')):
        if it.get('must_cite'): qs.append(('star',it['competency'],g(it['must_cite'])))
    for it in json.load(open(f'{ROOT}/{s}/stories/truth.json')):
        if not it.get('none') and it['best']: qs.append(('story',it['question'],g(it['best'])))
    for line in open(f'{ROOT}/{s}/search_queries.tsv'):
        line=line.rstrip('\n')
        if not line.strip(): continue
        q,p=line.split('\t'); qs.append(('search',q,g([p])))
    qs=[q for q in qs if q[2]]
    return notes,texts,np.array(owner),qs

def get(s):
    os.makedirs(OUT,exist_ok=True)
    notes,texts,owner,qs=load_set(s)
    f=f'{OUT}/{s}.npz'
    if os.path.exists(f):
        z=np.load(f)
        if z['C'].shape[0]==len(texts) and z['Q'].shape[0]==len(qs): return dict(notes=notes,texts=texts,owner=owner,qs=qs,C=z['C'],Q=z['Q'])
    t=time.time(); C=embed(texts); Q=embed([q[1] for q in qs]); print(s,'embedded',len(texts),'chunks',len(qs),'queries',f'{time.time()-t:.0f}s',flush=True)
    np.savez(f,C=C,Q=Q)
    return dict(notes=notes,texts=texts,owner=owner,qs=qs,C=C,Q=Q)

if __name__=='__main__':
    for s in SETS:
        n,t,o,q=load_set(s); L=[ntok(x) for x in t]
        print(s,len(n),'notes',len(t),'chunks',f'mean tok {np.mean(L):.0f} max {max(L)}',len(q),'queries',{k:sum(x[0]==k for x in q) for k in ['ladder','star','story','search']})
    print(t[5]); print('---'); print(t[20])
