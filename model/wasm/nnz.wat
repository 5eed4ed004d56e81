;; The hot loop of iALS conjugate gradient, in WebAssembly SIMD (f32x4).
;; For the nonzeros q in [start, end) of one row, with y_q the factor row of column cols[q]:
;;   out += (a[q - start] - b[q - start] * (y_q · vec)) * y_q
;; Residual pass: a = confidence, b = confidence - unobserved weight; A·p pass: a = 0, b = -(c - w).
;; All pointers are byte offsets into the shared memory; dims must be a multiple of 4.
(module
  (import "env" "memory" (memory 1 65536 shared))
  (func (export "nnz_pass")
    (param $fixed i32) (param $cols i32) (param $start i32) (param $end i32) (param $dims i32)
    (param $vec i32) (param $out i32) (param $a i32) (param $b i32)
    (local $q i32) (local $row i32) (local $i i32) (local $bytes i32) (local $k i32)
    (local $acc0 v128) (local $acc1 v128) (local $c f32) (local $cv v128)
    (local.set $bytes (i32.shl (local.get $dims) (i32.const 2)))
    (local.set $q (local.get $start))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_s (local.get $q) (local.get $end)))
        (local.set $row
          (i32.add (local.get $fixed)
            (i32.mul (i32.load (i32.add (local.get $cols) (i32.shl (local.get $q) (i32.const 2)))) (local.get $bytes))))
        ;; dot product, two accumulators over 8 floats per step (dims % 8 == 4 handled below)
        (local.set $acc0 (v128.const f32x4 0 0 0 0))
        (local.set $acc1 (v128.const f32x4 0 0 0 0))
        (local.set $i (i32.const 0))
        (block $dot_end
          (loop $dot
            (br_if $dot_end (i32.gt_s (i32.add (local.get $i) (i32.const 32)) (local.get $bytes)))
            (local.set $acc0 (f32x4.add (local.get $acc0)
              (f32x4.mul (v128.load (i32.add (local.get $row) (local.get $i))) (v128.load (i32.add (local.get $vec) (local.get $i))))))
            (local.set $acc1 (f32x4.add (local.get $acc1)
              (f32x4.mul (v128.load offset=16 (i32.add (local.get $row) (local.get $i))) (v128.load offset=16 (i32.add (local.get $vec) (local.get $i))))))
            (local.set $i (i32.add (local.get $i) (i32.const 32)))
            (br $dot)))
        (if (i32.lt_s (local.get $i) (local.get $bytes))
          (then
            (local.set $acc0 (f32x4.add (local.get $acc0)
              (f32x4.mul (v128.load (i32.add (local.get $row) (local.get $i))) (v128.load (i32.add (local.get $vec) (local.get $i))))))))
        (local.set $acc0 (f32x4.add (local.get $acc0) (local.get $acc1)))
        (local.set $k (i32.shl (i32.sub (local.get $q) (local.get $start)) (i32.const 2)))
        (local.set $c
          (f32.sub (f32.load (i32.add (local.get $a) (local.get $k)))
            (f32.mul (f32.load (i32.add (local.get $b) (local.get $k)))
              (f32.add
                (f32.add (f32x4.extract_lane 0 (local.get $acc0)) (f32x4.extract_lane 1 (local.get $acc0)))
                (f32.add (f32x4.extract_lane 2 (local.get $acc0)) (f32x4.extract_lane 3 (local.get $acc0)))))))
        ;; out += c * row
        (local.set $cv (f32x4.splat (local.get $c)))
        (local.set $i (i32.const 0))
        (block $axpy_end
          (loop $axpy
            (br_if $axpy_end (i32.ge_s (local.get $i) (local.get $bytes)))
            (v128.store (i32.add (local.get $out) (local.get $i))
              (f32x4.add (v128.load (i32.add (local.get $out) (local.get $i)))
                (f32x4.mul (local.get $cv) (v128.load (i32.add (local.get $row) (local.get $i))))))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $axpy)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $rows)))))
