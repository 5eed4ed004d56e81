;; The two O(n³)/O(n²b) loops of the blocked symmetric sweep that inverts XᵀX + Λ for EASE
;; (driven by model/ease-solver.ts), in WebAssembly SIMD (f64x2).
;;
;; Layout: A is n×n float64, row-major (n a multiple of 4, only its upper triangle is meaningful).
;; A "packed panel" holds the b values of one block of columns for 4 consecutive rows, k-major:
;; panel g = rows 4g..4g+3 is b×4 float64 at byte offset g·b·32, element [k][r] at (g·b + k)·32 + r·8.
;; All pointers are byte offsets into the memory.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; Rank-b update of the upper triangle, 4×4 tiles at a time:
  ;;   A[i][j] -= Σ_k T[i][k]·Q[j][k]   for row groups ig = ig0, ig0+step, … < ig1 and column groups jg ≥ ig
  ;; T and Q are packed panels (Tp, Qp) over all n/4 row groups.
  (func (export "update")
    (param $a i32) (param $n i32) (param $tp i32) (param $qp i32) (param $b i32)
    (param $ig0 i32) (param $ig1 i32) (param $step i32)
    (local $ig i32) (local $jg i32) (local $ng i32) (local $panel i32) (local $rowBytes i32)
    (local $t i32) (local $q i32) (local $tend i32) (local $ap i32)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $q0 v128) (local $q1 v128) (local $s v128)
    (local.set $ng (i32.shr_u (local.get $n) (i32.const 2)))
    (local.set $panel (i32.shl (local.get $b) (i32.const 5)))
    (local.set $rowBytes (i32.shl (local.get $n) (i32.const 3)))
    (local.set $ig (local.get $ig0))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_s (local.get $ig) (local.get $ig1)))
        (local.set $jg (local.get $ig))
        (block $cols_done
          (loop $cols
            (br_if $cols_done (i32.ge_s (local.get $jg) (local.get $ng)))
            (local.set $c00 (v128.const f64x2 0 0)) (local.set $c01 (v128.const f64x2 0 0))
            (local.set $c10 (v128.const f64x2 0 0)) (local.set $c11 (v128.const f64x2 0 0))
            (local.set $c20 (v128.const f64x2 0 0)) (local.set $c21 (v128.const f64x2 0 0))
            (local.set $c30 (v128.const f64x2 0 0)) (local.set $c31 (v128.const f64x2 0 0))
            (local.set $t (i32.add (local.get $tp) (i32.mul (local.get $ig) (local.get $panel))))
            (local.set $q (i32.add (local.get $qp) (i32.mul (local.get $jg) (local.get $panel))))
            (local.set $tend (i32.add (local.get $t) (local.get $panel)))
            (block $k_done
              (loop $k
                (br_if $k_done (i32.ge_u (local.get $t) (local.get $tend)))
                (local.set $q0 (v128.load (local.get $q)))
                (local.set $q1 (v128.load offset=16 (local.get $q)))
                (local.set $s (v128.load64_splat (local.get $t)))
                (local.set $c00 (f64x2.add (local.get $c00) (f64x2.mul (local.get $s) (local.get $q0))))
                (local.set $c01 (f64x2.add (local.get $c01) (f64x2.mul (local.get $s) (local.get $q1))))
                (local.set $s (v128.load64_splat offset=8 (local.get $t)))
                (local.set $c10 (f64x2.add (local.get $c10) (f64x2.mul (local.get $s) (local.get $q0))))
                (local.set $c11 (f64x2.add (local.get $c11) (f64x2.mul (local.get $s) (local.get $q1))))
                (local.set $s (v128.load64_splat offset=16 (local.get $t)))
                (local.set $c20 (f64x2.add (local.get $c20) (f64x2.mul (local.get $s) (local.get $q0))))
                (local.set $c21 (f64x2.add (local.get $c21) (f64x2.mul (local.get $s) (local.get $q1))))
                (local.set $s (v128.load64_splat offset=24 (local.get $t)))
                (local.set $c30 (f64x2.add (local.get $c30) (f64x2.mul (local.get $s) (local.get $q0))))
                (local.set $c31 (f64x2.add (local.get $c31) (f64x2.mul (local.get $s) (local.get $q1))))
                (local.set $t (i32.add (local.get $t) (i32.const 32)))
                (local.set $q (i32.add (local.get $q) (i32.const 32)))
                (br $k)))
            ;; A tile rows 4ig..4ig+3, columns 4jg..4jg+3
            (local.set $ap
              (i32.add (local.get $a)
                (i32.add (i32.mul (i32.shl (local.get $ig) (i32.const 2)) (local.get $rowBytes))
                  (i32.shl (local.get $jg) (i32.const 5)))))
            (v128.store (local.get $ap) (f64x2.sub (v128.load (local.get $ap)) (local.get $c00)))
            (v128.store offset=16 (local.get $ap) (f64x2.sub (v128.load offset=16 (local.get $ap)) (local.get $c01)))
            (local.set $ap (i32.add (local.get $ap) (local.get $rowBytes)))
            (v128.store (local.get $ap) (f64x2.sub (v128.load (local.get $ap)) (local.get $c10)))
            (v128.store offset=16 (local.get $ap) (f64x2.sub (v128.load offset=16 (local.get $ap)) (local.get $c11)))
            (local.set $ap (i32.add (local.get $ap) (local.get $rowBytes)))
            (v128.store (local.get $ap) (f64x2.sub (v128.load (local.get $ap)) (local.get $c20)))
            (v128.store offset=16 (local.get $ap) (f64x2.sub (v128.load offset=16 (local.get $ap)) (local.get $c21)))
            (local.set $ap (i32.add (local.get $ap) (local.get $rowBytes)))
            (v128.store (local.get $ap) (f64x2.sub (v128.load (local.get $ap)) (local.get $c30)))
            (v128.store offset=16 (local.get $ap) (f64x2.sub (v128.load offset=16 (local.get $ap)) (local.get $c31)))
            (local.set $jg (i32.add (local.get $jg) (i32.const 1)))
            (br $cols)))
        (local.set $ig (i32.add (local.get $ig) (local.get $step)))
        (br $rows))))

  ;; Tp = (P·Qᵀ)ᵀ panel by panel: Tp[g][k][r] = Σ_l P[k][l]·Qp[g][l][r] for g in [g0, g1).
  ;; P is b×b float64, row-major (symmetric here, so T = Q·P).
  (func (export "panel_mul")
    (param $tp i32) (param $p i32) (param $qp i32) (param $b i32) (param $g0 i32) (param $g1 i32)
    (local $g i32) (local $k i32) (local $panel i32) (local $prow i32) (local $pend i32) (local $q i32) (local $out i32)
    (local $c0 v128) (local $c1 v128) (local $s v128)
    (local.set $panel (i32.shl (local.get $b) (i32.const 5)))
    (local.set $g (local.get $g0))
    (block $g_done
      (loop $gl
        (br_if $g_done (i32.ge_s (local.get $g) (local.get $g1)))
        (local.set $out (i32.add (local.get $tp) (i32.mul (local.get $g) (local.get $panel))))
        (local.set $k (i32.const 0))
        (block $k_done
          (loop $kl
            (br_if $k_done (i32.ge_s (local.get $k) (local.get $b)))
            (local.set $c0 (v128.const f64x2 0 0))
            (local.set $c1 (v128.const f64x2 0 0))
            (local.set $prow (i32.add (local.get $p) (i32.shl (i32.mul (local.get $k) (local.get $b)) (i32.const 3))))
            (local.set $pend (i32.add (local.get $prow) (i32.shl (local.get $b) (i32.const 3))))
            (local.set $q (i32.add (local.get $qp) (i32.mul (local.get $g) (local.get $panel))))
            (block $l_done
              (loop $ll
                (br_if $l_done (i32.ge_u (local.get $prow) (local.get $pend)))
                (local.set $s (v128.load64_splat (local.get $prow)))
                (local.set $c0 (f64x2.add (local.get $c0) (f64x2.mul (local.get $s) (v128.load (local.get $q)))))
                (local.set $c1 (f64x2.add (local.get $c1) (f64x2.mul (local.get $s) (v128.load offset=16 (local.get $q)))))
                (local.set $prow (i32.add (local.get $prow) (i32.const 8)))
                (local.set $q (i32.add (local.get $q) (i32.const 32)))
                (br $ll)))
            (v128.store (local.get $out) (local.get $c0))
            (v128.store offset=16 (local.get $out) (local.get $c1))
            (local.set $out (i32.add (local.get $out) (i32.const 32)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $kl)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $gl)))))
