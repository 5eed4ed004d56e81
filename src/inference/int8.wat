;; Int8 scoring kernel for the edge: top-k candidates of Y·u over int8 item rows with a per-row
;; float multiplier, in WebAssembly SIMD, plain (scan) or under a scoring plan that filters rows
;; and transforms their scores by class as it scores them (scanPlan). See src/inference/int8.ts
;; for the layout and why it is hand-written. Assembled into build/int8.wasm by scripts/build.ts
;; (workerd cannot compile bytes at run time, so the Worker imports the assembled module).
;;
;; Rows are stored in groups of four, interleaved by pairs of dimensions:
;;   group g, dims (2j, 2j+1):  r0[2j] r0[2j+1] r1[2j] r1[2j+1] r2[2j] r2[2j+1] r3[2j] r3[2j+1]
;; so one i32x4.dot_i16x8_s of such 8 bytes (sign-extended) with the query pair broadcast
;; (u[2j] u[2j+1] ×4) adds row r's partial sum into lane r. Four rows' dot products come out in
;; the four lanes of one vector with no horizontal sums. Two groups are scored per pass so each
;; query vector is loaded once for eight rows. Measured on 100K × 64 (Node 20, Zen 3): row-major
;; rows with a shuffle reduction 0.52 ms, one group per pass 0.53 ms, two groups 0.39 ms.
(module
  (memory (export "memory") 1)
  ;; candidates stored by the last scan
  (global $count (export "count") (mut i32) (i32.const 0))
  ;; where scanPlan's touch loads go (see there)
  (global $sink (mut i32) (i32.const 0))

  ;; scan(rows, mult, query, dims, start, end, threshold, candScores, candBase, cap) -> next row
  ;;   rows   int8 groups as above, 4·dims bytes per group; dims a multiple of 16, at most 512
  ;;   mult   f32 per row (the row's dequantisation scale, or 1/‖row‖ for cosine)
  ;;   query  dims/2 vectors of i16x8, each one pair (u[2j], u[2j+1]) repeated four times, with u
  ;;          quantised to 16 bits (|u| ≤ 32767, so sums over ≤ 512 dims stay below 2^31)
  ;;   start, end  row range, multiples of 8 (rows beyond the catalogue are zero with mult 0)
  ;; Each group's four scores s_r = (row_r · u) · mult_r; a group in which some s_r beats
  ;; `threshold` is appended to the candidates: its scores (f32x4) at candScores + 16·count and
  ;; its first row at candBase + 4·count. Returns `end`, or the first unscanned group once `cap`
  ;; candidates are stored (the caller raises the threshold and resumes there).
  (func (export "scan")
    (param $rows i32) (param $mult i32) (param $query i32) (param $dims i32)
    (param $start i32) (param $end i32) (param $thr f32)
    (param $cs i32) (param $cb i32) (param $cap i32)
    (result i32)
    (local $i i32) (local $p i32) (local $p2 i32) (local $qp i32) (local $qend i32) (local $n i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $q0 v128) (local $q1 v128) (local $q2 v128) (local $q3 v128)
    (local $s v128) (local $t v128) (local $thr4 v128)
    (local.set $thr4 (f32x4.splat (local.get $thr)))
    (local.set $qend (i32.add (local.get $query) (i32.shl (local.get $dims) (i32.const 3))))
    (local.set $i (local.get $start))
    (local.set $p (i32.add (local.get $rows) (i32.mul (local.get $start) (local.get $dims))))
    (block $done
      (loop $group
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $a2 (v128.const i32x4 0 0 0 0))
        (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $qp (local.get $query))
        ;; two groups (8 rows) per pass, so each query vector is loaded once for both: 8 dims per
        ;; step, rows of the second group 4·dims bytes further on
        (local.set $p2 (i32.add (local.get $p) (i32.shl (local.get $dims) (i32.const 2))))
        (loop $pairs
          (local.set $q0 (v128.load offset=0 (local.get $qp)))
          (local.set $q1 (v128.load offset=16 (local.get $qp)))
          (local.set $q2 (v128.load offset=32 (local.get $qp)))
          (local.set $q3 (v128.load offset=48 (local.get $qp)))
          (local.set $a0 (i32x4.add (local.get $a0) (i32x4.add
            (i32x4.dot_i16x8_s (v128.load8x8_s offset=0 (local.get $p)) (local.get $q0))
            (i32x4.dot_i16x8_s (v128.load8x8_s offset=8 (local.get $p)) (local.get $q1)))))
          (local.set $a1 (i32x4.add (local.get $a1) (i32x4.add
            (i32x4.dot_i16x8_s (v128.load8x8_s offset=16 (local.get $p)) (local.get $q2))
            (i32x4.dot_i16x8_s (v128.load8x8_s offset=24 (local.get $p)) (local.get $q3)))))
          (local.set $a2 (i32x4.add (local.get $a2) (i32x4.add
            (i32x4.dot_i16x8_s (v128.load8x8_s offset=0 (local.get $p2)) (local.get $q0))
            (i32x4.dot_i16x8_s (v128.load8x8_s offset=8 (local.get $p2)) (local.get $q1)))))
          (local.set $a3 (i32x4.add (local.get $a3) (i32x4.add
            (i32x4.dot_i16x8_s (v128.load8x8_s offset=16 (local.get $p2)) (local.get $q2))
            (i32x4.dot_i16x8_s (v128.load8x8_s offset=24 (local.get $p2)) (local.get $q3)))))
          (local.set $p (i32.add (local.get $p) (i32.const 32)))
          (local.set $p2 (i32.add (local.get $p2) (i32.const 32)))
          (local.set $qp (i32.add (local.get $qp) (i32.const 64)))
          (br_if $pairs (i32.lt_u (local.get $qp) (local.get $qend))))
        ;; the first group's pointer stopped where the second group starts
        (local.set $p (local.get $p2))
        (local.set $s (f32x4.mul
          (f32x4.convert_i32x4_s (i32x4.add (local.get $a0) (local.get $a1)))
          (v128.load (i32.add (local.get $mult) (i32.shl (local.get $i) (i32.const 2))))))
        (local.set $t (f32x4.mul
          (f32x4.convert_i32x4_s (i32x4.add (local.get $a2) (local.get $a3)))
          (v128.load offset=16 (i32.add (local.get $mult) (i32.shl (local.get $i) (i32.const 2))))))
        (if (v128.any_true (v128.or (f32x4.gt (local.get $s) (local.get $thr4)) (f32x4.gt (local.get $t) (local.get $thr4))))
          (then
            (if (i32.gt_u (i32.add (local.get $n) (i32.const 2)) (local.get $cap))
              (then
                (global.set $count (local.get $n))
                (return (local.get $i))))
            (v128.store (i32.add (local.get $cs) (i32.shl (local.get $n) (i32.const 4))) (local.get $s))
            (i32.store (i32.add (local.get $cb) (i32.shl (local.get $n) (i32.const 2))) (local.get $i))
            (v128.store offset=16 (i32.add (local.get $cs) (i32.shl (local.get $n) (i32.const 4))) (local.get $t))
            (i32.store offset=4 (i32.add (local.get $cb) (i32.shl (local.get $n) (i32.const 2))) (i32.add (local.get $i) (i32.const 4)))
            (local.set $n (i32.add (local.get $n) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $group)))
    (global.set $count (local.get $n))
    (local.get $end))

  ;; scanPlan(rows, mult, query, dims, start, end, threshold, candScores, candBase, cap,
  ;;          classes, table, ident) -> next row
  ;; scan with a scoring plan (src/inference/plan.ts) applied inside: the first ten parameters
  ;; as in scan, and
  ;;   classes  one class byte per row (Np bytes, then at least 128 readable bytes; rows beyond
  ;;            the catalogue are class 0)
  ;;   table    256 × (mul f32, add f32), the plan's transform per class with add already in
  ;;            the query's units (add / query scale); class 0 and classes without a transform
  ;;            are (0, −∞), so their rows score −∞ and never beat any threshold
  ;;   ident    a class whose transform is the identity (mul 1, add 0), or 0 if there is none
  ;; Each group's four scores are s_r · mul[c_r] + add[c_r] (f32 multiply, then f32 add, the
  ;; arithmetic the TypeScript reference does); a stored candidate's lanes of class 0 hold −∞.
  ;;
  ;; Rows go in blocks of 128 (16 passes, 32 groups), each with a 32-bit mask of its live groups
  ;; (some class ≠ 0), made with a few SIMD compares of its class bytes:
  ;;   sparse block (fewer than 3 of its 16 passes have a live group): only those passes are
  ;;     visited, found by ctz on the mask (no per-pass branch for a random filter to
  ;;     mispredict), and a dead group of four costs no loads and no dot products. Scattered
  ;;     256-byte reads defeat the hardware prefetcher, so each would wait for DRAM; WebAssembly
  ;;     has no prefetch instruction, so one block ahead the first group of every run of live
  ;;     groups is touched (loaded and discarded) back to back, and those misses overlap.
  ;;   dense block: every pass, both groups, like scan — the rows stream, and the dead lanes
  ;;     come out −∞. Skipping a quarter to half of the groups here cost more than it saved.
  ;; Measured on 1M × 64 (2-core EPYC, relative to scan, interleaved runs): a random 95% filter
  ;; 1.3× with a per-pass skip, 0.9× so; a 90% filter 1.7× and 1.1×; 80% 1.5× and 1.0×.
  ;; Where the sparse/dense line lies depends on the machine's random-access cost. On a second
  ;; VM (EPYC with AVX-512) the earlier line (sparse below 7 live passes) took a random 95%
  ;; filter to 1.59–1.68× at 1M items (0.67× at 100K, which stays in cache), while always dense
  ;; was 1.12–1.18×. Sparse below 3 keeps the skip for very selective filters, where it pays on
  ;; both (99% filtered: 0.31× at 100K, 0.87× at 1M) and scores a 95% filter mostly dense
  ;; (1.16× at 100K, 1.27× at 1M): within the 1.5× bound on both machines.
  ;; Per pass, the transforms, from the cheapest case on:
  ;;   all eight the identity     the scores as they are (x · 1 + 0 = x exactly)
  ;;   only 0 and the identity    class-0 lanes set to −∞ by a mask
  ;;   anything else              mul and add gathered lane by lane from the table
  (func (export "scanPlan")
    (param $rows i32) (param $mult i32) (param $query i32) (param $dims i32)
    (param $start i32) (param $end i32) (param $thr f32)
    (param $cs i32) (param $cb i32) (param $cap i32)
    (param $classes i32) (param $table i32) (param $ident i32)
    (result i32)
    (local $i i32) (local $p i32) (local $p2 i32) (local $qp i32) (local $qend i32)
    (local $n i32) (local $c i32) (local $m i32) (local $lo i32) (local $row i32) (local $pass i32)
    (local $mask i32) (local $nmask i32) (local $bits i32) (local $sink i32)
    (local $dense i32) (local $ndense i32) (local $bend i32)
    (local $cls i64) (local $identAll i64)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $q0 v128) (local $q1 v128) (local $q2 v128) (local $q3 v128)
    (local $s v128) (local $t v128) (local $x v128) (local $thr4 v128)
    (local $identVec v128) (local $cv v128) (local $z v128) (local $mul v128) (local $add v128)
    (local.set $thr4 (f32x4.splat (local.get $thr)))
    (local.set $identAll (i64.mul (i64.extend_i32_u (local.get $ident)) (i64.const 0x0101010101010101)))
    (local.set $identVec (i16x8.splat (local.get $ident)))
    (local.set $qend (i32.add (local.get $query) (i32.shl (local.get $dims) (i32.const 3))))
    (local.set $i (local.get $start))
    (local.set $mask (call $liveGroups (local.get $classes) (local.get $i) (local.get $end)))
    (local.set $dense (call $isDense (local.get $mask)))
    (block $done
      (loop $block
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        ;; the next block: its mask and, when it is sparse, the first group of each of its runs
        ;; of live groups touched (the hardware prefetcher streams the rest of a run)
        (local.set $nmask (call $liveGroups (local.get $classes) (i32.add (local.get $i) (i32.const 128)) (local.get $end)))
        (local.set $ndense (call $isDense (local.get $nmask)))
        (if (i32.eqz (local.get $ndense))
          (then
            (local.set $sink (i32.or (local.get $sink) (call $touch
              (i32.and (local.get $nmask) (i32.xor (i32.or (i32.shl (local.get $nmask) (i32.const 1))
                (i32.shr_u (local.get $mask) (i32.const 31))) (i32.const -1)))
              (i32.add (local.get $rows) (i32.mul (i32.add (local.get $i) (i32.const 128)) (local.get $dims)))
              (local.get $dims))))))
        (local.set $bend (select (i32.add (local.get $i) (i32.const 128)) (local.get $end)
          (i32.lt_u (i32.add (local.get $i) (i32.const 128)) (local.get $end))))
        (local.set $row (local.get $i))
        (block $blockDone
          (loop $live
            (if (local.get $dense)
              (then
                ;; every pass, both groups
                (br_if $blockDone (i32.ge_u (local.get $row) (local.get $bend)))
                (local.set $bits (i32.const 3)))
              (else
                ;; the next pass with a live group, and which of its two groups are live
                (br_if $blockDone (i32.eqz (local.get $mask)))
                (local.set $pass (i32.shr_u (i32.ctz (local.get $mask)) (i32.const 1)))
                (local.set $bits (i32.and (i32.shr_u (local.get $mask) (i32.shl (local.get $pass) (i32.const 1))) (i32.const 3)))
                (local.set $mask (i32.and (local.get $mask)
                  (i32.xor (i32.shl (i32.const 3) (i32.shl (local.get $pass) (i32.const 1))) (i32.const -1))))
                (local.set $row (i32.add (local.get $i) (i32.shl (local.get $pass) (i32.const 3))))))
            (local.set $p (i32.add (local.get $rows) (i32.mul (local.get $row) (local.get $dims))))
            (local.set $c (i32.add (local.get $classes) (local.get $row)))
            (local.set $qp (local.get $query))
            (if (i32.eq (local.get $bits) (i32.const 3))
              (then
                ;; both groups live: exactly scan's loop
                (local.set $a0 (v128.const i32x4 0 0 0 0))
                (local.set $a1 (v128.const i32x4 0 0 0 0))
                (local.set $a2 (v128.const i32x4 0 0 0 0))
                (local.set $a3 (v128.const i32x4 0 0 0 0))
                (local.set $p2 (i32.add (local.get $p) (i32.shl (local.get $dims) (i32.const 2))))
                (loop $pairs
                  (local.set $q0 (v128.load offset=0 (local.get $qp)))
                  (local.set $q1 (v128.load offset=16 (local.get $qp)))
                  (local.set $q2 (v128.load offset=32 (local.get $qp)))
                  (local.set $q3 (v128.load offset=48 (local.get $qp)))
                  (local.set $a0 (i32x4.add (local.get $a0) (i32x4.add
                    (i32x4.dot_i16x8_s (v128.load8x8_s offset=0 (local.get $p)) (local.get $q0))
                    (i32x4.dot_i16x8_s (v128.load8x8_s offset=8 (local.get $p)) (local.get $q1)))))
                  (local.set $a1 (i32x4.add (local.get $a1) (i32x4.add
                    (i32x4.dot_i16x8_s (v128.load8x8_s offset=16 (local.get $p)) (local.get $q2))
                    (i32x4.dot_i16x8_s (v128.load8x8_s offset=24 (local.get $p)) (local.get $q3)))))
                  (local.set $a2 (i32x4.add (local.get $a2) (i32x4.add
                    (i32x4.dot_i16x8_s (v128.load8x8_s offset=0 (local.get $p2)) (local.get $q0))
                    (i32x4.dot_i16x8_s (v128.load8x8_s offset=8 (local.get $p2)) (local.get $q1)))))
                  (local.set $a3 (i32x4.add (local.get $a3) (i32x4.add
                    (i32x4.dot_i16x8_s (v128.load8x8_s offset=16 (local.get $p2)) (local.get $q2))
                    (i32x4.dot_i16x8_s (v128.load8x8_s offset=24 (local.get $p2)) (local.get $q3)))))
                  (local.set $p (i32.add (local.get $p) (i32.const 32)))
                  (local.set $p2 (i32.add (local.get $p2) (i32.const 32)))
                  (local.set $qp (i32.add (local.get $qp) (i32.const 64)))
                  (br_if $pairs (i32.lt_u (local.get $qp) (local.get $qend))))
                (local.set $s (f32x4.mul
                  (f32x4.convert_i32x4_s (i32x4.add (local.get $a0) (local.get $a1)))
                  (v128.load (i32.add (local.get $mult) (i32.shl (local.get $row) (i32.const 2))))))
                (local.set $t (f32x4.mul
                  (f32x4.convert_i32x4_s (i32x4.add (local.get $a2) (local.get $a3)))
                  (v128.load offset=16 (i32.add (local.get $mult) (i32.shl (local.get $row) (i32.const 2)))))))
              (else
                ;; one group live: its rows start at p (first group) or 4·dims further (second);
                ;; the dead group's scores stay 0 and its class-0 lanes become −∞ below
                (local.set $lo (i32.and (local.get $bits) (i32.const 1)))
                (local.set $m (select (local.get $row) (i32.add (local.get $row) (i32.const 4)) (local.get $lo)))
                (local.set $p2 (select (local.get $p) (i32.add (local.get $p) (i32.shl (local.get $dims) (i32.const 2))) (local.get $lo)))
                (local.set $a0 (v128.const i32x4 0 0 0 0))
                (local.set $a1 (v128.const i32x4 0 0 0 0))
                (loop $pairs1
                  (local.set $a0 (i32x4.add (local.get $a0) (i32x4.add
                    (i32x4.dot_i16x8_s (v128.load8x8_s offset=0 (local.get $p2)) (v128.load offset=0 (local.get $qp)))
                    (i32x4.dot_i16x8_s (v128.load8x8_s offset=8 (local.get $p2)) (v128.load offset=16 (local.get $qp))))))
                  (local.set $a1 (i32x4.add (local.get $a1) (i32x4.add
                    (i32x4.dot_i16x8_s (v128.load8x8_s offset=16 (local.get $p2)) (v128.load offset=32 (local.get $qp)))
                    (i32x4.dot_i16x8_s (v128.load8x8_s offset=24 (local.get $p2)) (v128.load offset=48 (local.get $qp))))))
                  (local.set $p2 (i32.add (local.get $p2) (i32.const 32)))
                  (local.set $qp (i32.add (local.get $qp) (i32.const 64)))
                  (br_if $pairs1 (i32.lt_u (local.get $qp) (local.get $qend))))
                (local.set $x (f32x4.mul
                  (f32x4.convert_i32x4_s (i32x4.add (local.get $a0) (local.get $a1)))
                  (v128.load (i32.add (local.get $mult) (i32.shl (local.get $m) (i32.const 2))))))
                (local.set $s (select (result v128) (local.get $x) (v128.const i32x4 0 0 0 0) (local.get $lo)))
                (local.set $t (select (result v128) (v128.const i32x4 0 0 0 0) (local.get $x) (local.get $lo)))))
            ;; the plan's transforms (nothing to do when all eight rows are of the identity class)
            (local.set $cls (i64.load (local.get $c)))
            (if (i64.ne (local.get $cls) (local.get $identAll))
              (then
                ;; the eight classes as i16 lanes; z: the lanes of class 0
                (local.set $cv (v128.load8x8_u (local.get $c)))
                (local.set $z (i16x8.eq (local.get $cv) (v128.const i32x4 0 0 0 0)))
                (if (i16x8.all_true (v128.or (local.get $z) (i16x8.eq (local.get $cv) (local.get $identVec))))
                  (then
                    (local.set $s (v128.bitselect (v128.const f32x4 -inf -inf -inf -inf) (local.get $s)
                      (i32x4.extend_low_i16x8_s (local.get $z))))
                    (local.set $t (v128.bitselect (v128.const f32x4 -inf -inf -inf -inf) (local.get $t)
                      (i32x4.extend_high_i16x8_s (local.get $z)))))
                  (else
                    ;; table + 8·class: that class's (mul, add)
                    (local.set $mul (f32x4.replace_lane 0 (local.get $mul)
                      (f32.load (local.tee $m (i32.add (local.get $table) (i32.shl (i32.load8_u offset=0 (local.get $c)) (i32.const 3)))))))
                    (local.set $add (f32x4.replace_lane 0 (local.get $add) (f32.load offset=4 (local.get $m))))
                    (local.set $mul (f32x4.replace_lane 1 (local.get $mul)
                      (f32.load (local.tee $m (i32.add (local.get $table) (i32.shl (i32.load8_u offset=1 (local.get $c)) (i32.const 3)))))))
                    (local.set $add (f32x4.replace_lane 1 (local.get $add) (f32.load offset=4 (local.get $m))))
                    (local.set $mul (f32x4.replace_lane 2 (local.get $mul)
                      (f32.load (local.tee $m (i32.add (local.get $table) (i32.shl (i32.load8_u offset=2 (local.get $c)) (i32.const 3)))))))
                    (local.set $add (f32x4.replace_lane 2 (local.get $add) (f32.load offset=4 (local.get $m))))
                    (local.set $mul (f32x4.replace_lane 3 (local.get $mul)
                      (f32.load (local.tee $m (i32.add (local.get $table) (i32.shl (i32.load8_u offset=3 (local.get $c)) (i32.const 3)))))))
                    (local.set $add (f32x4.replace_lane 3 (local.get $add) (f32.load offset=4 (local.get $m))))
                    (local.set $s (f32x4.add (f32x4.mul (local.get $s) (local.get $mul)) (local.get $add)))
                    (local.set $mul (f32x4.replace_lane 0 (local.get $mul)
                      (f32.load (local.tee $m (i32.add (local.get $table) (i32.shl (i32.load8_u offset=4 (local.get $c)) (i32.const 3)))))))
                    (local.set $add (f32x4.replace_lane 0 (local.get $add) (f32.load offset=4 (local.get $m))))
                    (local.set $mul (f32x4.replace_lane 1 (local.get $mul)
                      (f32.load (local.tee $m (i32.add (local.get $table) (i32.shl (i32.load8_u offset=5 (local.get $c)) (i32.const 3)))))))
                    (local.set $add (f32x4.replace_lane 1 (local.get $add) (f32.load offset=4 (local.get $m))))
                    (local.set $mul (f32x4.replace_lane 2 (local.get $mul)
                      (f32.load (local.tee $m (i32.add (local.get $table) (i32.shl (i32.load8_u offset=6 (local.get $c)) (i32.const 3)))))))
                    (local.set $add (f32x4.replace_lane 2 (local.get $add) (f32.load offset=4 (local.get $m))))
                    (local.set $mul (f32x4.replace_lane 3 (local.get $mul)
                      (f32.load (local.tee $m (i32.add (local.get $table) (i32.shl (i32.load8_u offset=7 (local.get $c)) (i32.const 3)))))))
                    (local.set $add (f32x4.replace_lane 3 (local.get $add) (f32.load offset=4 (local.get $m))))
                    (local.set $t (f32x4.add (f32x4.mul (local.get $t) (local.get $mul)) (local.get $add)))))))
            (if (v128.any_true (v128.or (f32x4.gt (local.get $s) (local.get $thr4)) (f32x4.gt (local.get $t) (local.get $thr4))))
              (then
                (if (i32.gt_u (i32.add (local.get $n) (i32.const 2)) (local.get $cap))
                  (then
                    (global.set $count (local.get $n))
                    (global.set $sink (local.get $sink))
                    (return (local.get $row))))
                (v128.store (i32.add (local.get $cs) (i32.shl (local.get $n) (i32.const 4))) (local.get $s))
                (i32.store (i32.add (local.get $cb) (i32.shl (local.get $n) (i32.const 2))) (local.get $row))
                (v128.store offset=16 (i32.add (local.get $cs) (i32.shl (local.get $n) (i32.const 4))) (local.get $t))
                (i32.store offset=4 (i32.add (local.get $cb) (i32.shl (local.get $n) (i32.const 2))) (i32.add (local.get $row) (i32.const 4)))
                (local.set $n (i32.add (local.get $n) (i32.const 2)))))
            (local.set $row (i32.add (local.get $row) (i32.const 8)))
            (br $live)))
        (local.set $i (i32.add (local.get $i) (i32.const 128)))
        (local.set $mask (local.get $nmask))
        (local.set $dense (local.get $ndense))
        (br $block)))
    (global.set $count (local.get $n))
    ;; the touched values only need to look used, so the loads are not dropped
    (global.set $sink (local.get $sink))
    (local.get $end))

  ;; liveGroups(classes, row, end) -> bit g set when group g of rows [row, row + 128) ∩ [0, end)
  ;; has a class ≠ 0 (row a multiple of 8; reads 128 class bytes from row on)
  (func $liveGroups (param $classes i32) (param $row i32) (param $end i32) (result i32)
    (local $c i32) (local $m i32) (local $n i32)
    (if (i32.ge_u (local.get $row) (local.get $end)) (then (return (i32.const 0))))
    (local.set $c (i32.add (local.get $classes) (local.get $row)))
    (local.set $m (i32.or
      (i32.or
        (i32.or (i32x4.bitmask (i32x4.ne (v128.load offset=0 (local.get $c)) (v128.const i32x4 0 0 0 0)))
          (i32.shl (i32x4.bitmask (i32x4.ne (v128.load offset=16 (local.get $c)) (v128.const i32x4 0 0 0 0))) (i32.const 4)))
        (i32.or (i32.shl (i32x4.bitmask (i32x4.ne (v128.load offset=32 (local.get $c)) (v128.const i32x4 0 0 0 0))) (i32.const 8))
          (i32.shl (i32x4.bitmask (i32x4.ne (v128.load offset=48 (local.get $c)) (v128.const i32x4 0 0 0 0))) (i32.const 12))))
      (i32.or
        (i32.or (i32.shl (i32x4.bitmask (i32x4.ne (v128.load offset=64 (local.get $c)) (v128.const i32x4 0 0 0 0))) (i32.const 16))
          (i32.shl (i32x4.bitmask (i32x4.ne (v128.load offset=80 (local.get $c)) (v128.const i32x4 0 0 0 0))) (i32.const 20)))
        (i32.or (i32.shl (i32x4.bitmask (i32x4.ne (v128.load offset=96 (local.get $c)) (v128.const i32x4 0 0 0 0))) (i32.const 24))
          (i32.shl (i32x4.bitmask (i32x4.ne (v128.load offset=112 (local.get $c)) (v128.const i32x4 0 0 0 0))) (i32.const 28))))))
    ;; a last, partial block: only its groups below end
    (local.set $n (i32.sub (local.get $end) (local.get $row)))
    (if (i32.lt_u (local.get $n) (i32.const 128))
      (then (local.set $m (i32.and (local.get $m) (i32.sub (i32.shl (i32.const 1) (i32.shr_u (local.get $n) (i32.const 2))) (i32.const 1))))))
    (local.get $m))

  ;; isDense(mask) -> whether at least 3 of the block's 16 passes have a live group (scanPlan
  ;; scores such a block whole; why 3, see there)
  (func $isDense (param $m i32) (result i32)
    (i32.ge_u (i32.popcnt (i32.and (i32.or (local.get $m) (i32.shr_u (local.get $m) (i32.const 1))) (i32.const 0x55555555))) (i32.const 3)))

  ;; touch(groups, base, dims) -> the OR of one i32 per 64-byte line of every group whose bit is
  ;; set, in the block of groups whose rows start at base (4·dims bytes a group): a software
  ;; prefetch by plain loads, issued back to back so their cache misses overlap
  (func $touch (param $groups i32) (param $base i32) (param $dims i32) (result i32)
    (local $p i32) (local $e i32) (local $sink i32) (local $size i32)
    (local.set $size (i32.shl (local.get $dims) (i32.const 2)))
    (block $done
      (loop $group
        (br_if $done (i32.eqz (local.get $groups)))
        (local.set $p (i32.add (local.get $base) (i32.mul (i32.ctz (local.get $groups)) (local.get $size))))
        (local.set $e (i32.add (local.get $p) (local.get $size)))
        (loop $line
          (local.set $sink (i32.or (local.get $sink) (i32.load (local.get $p))))
          (local.set $p (i32.add (local.get $p) (i32.const 64)))
          (br_if $line (i32.lt_u (local.get $p) (local.get $e))))
        (local.set $groups (i32.and (local.get $groups) (i32.sub (local.get $groups) (i32.const 1))))
        (br $group)))
    (local.get $sink))

  ;; invNorms(rows, dims, groups, out): out[r] = 1/‖row_r‖ (0 for an all-zero row), four rows at
  ;; a time over the grouped layout. Cosine similarity of int8 rows does not depend on their scales.
  (func (export "invNorms") (param $rows i32) (param $dims i32) (param $groups i32) (param $out i32)
    (local $g i32) (local $p i32) (local $end i32) (local $acc v128) (local $x v128) (local $sq v128)
    (local.set $p (local.get $rows))
    (block $done
      (loop $group
        (br_if $done (i32.ge_u (local.get $g) (local.get $groups)))
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $end (i32.add (local.get $p) (i32.shl (local.get $dims) (i32.const 2))))
        (loop $pairs
          (local.set $x (v128.load8x8_s (local.get $p)))
          (local.set $acc (i32x4.add (local.get $acc) (i32x4.dot_i16x8_s (local.get $x) (local.get $x))))
          (local.set $p (i32.add (local.get $p) (i32.const 8)))
          (br_if $pairs (i32.lt_u (local.get $p) (local.get $end))))
        (local.set $sq (f32x4.convert_i32x4_s (local.get $acc)))
        (v128.store (i32.add (local.get $out) (i32.shl (local.get $g) (i32.const 4)))
          (v128.and
            (f32x4.div (v128.const f32x4 1 1 1 1) (f32x4.sqrt (local.get $sq)))
            (f32x4.gt (local.get $sq) (v128.const f32x4 0 0 0 0))))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $group)))))
