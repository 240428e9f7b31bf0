import sys, time, threading; sys.path.insert(0, "/tmp/sq"); from common import *
bts = batches(chunks("measure"))[:300]
n = len(bts)*4
for v in sys.argv[1:]:
    p = f"{W}/{v}.onnx"
    for rnd in range(2):
        s = session(p, threads=2)
        for b in bts[:5]: s.run(None, b)
        t0 = time.perf_counter()
        for b in bts: s.run(None, b)
        one = n/(time.perf_counter()-t0)
        ss = [session(p, threads=1) for _ in range(2)]
        for x in ss:
            for b in bts[:5]: x.run(None, b)
        def work(x, part):
            for b in part: x.run(None, b)
        th = [threading.Thread(target=work, args=(ss[i], bts[i::2])) for i in range(2)]
        t0 = time.perf_counter()
        for t in th: t.start()
        for t in th: t.join()
        two = n/(time.perf_counter()-t0)
        print(f"{v} round{rnd}: 1x2threads {one:.1f} chunks/s, 2x1thread {two:.1f} chunks/s ratio {two/one:.2f}", flush=True)
