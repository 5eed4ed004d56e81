;; Int8 scoring kernel for the edge: top-k candidates of Y·u over int8 item rows with a per-row
;; float multiplier, in WebAssembly SIMD. See src/inference/int8.ts for the layout and why it is
;; hand-written. Assembled into build/int8.wasm by scripts/build-wasm.mjs (workerd cannot compile
;; bytes at run time, so the Worker imports the assembled module).
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
