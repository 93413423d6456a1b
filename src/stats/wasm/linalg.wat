;; Float64 kernels for the d x d side of EM, in WebAssembly with 128-bit SIMD: V8 runs the
;; same loops in plain JS at ~1.7-3 ns per multiply-add on this machine, which made the
;; per-iteration Cholesky factorisations a third of a single-threaded GMM sweep.
;; Matrices are row-major f64 at byte offsets into the exported memory.
(module
  (memory (export "memory") 1)

  ;; sum_{m < n} x[m] * y[m] for byte pointers x, y
  (func $dot (param $x i32) (param $y i32) (param $n i32) (result f64)
    (local $a0 v128) (local $a1 v128) (local $end i32) (local $s f64)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 3))))
    ;; 4 doubles per step on two independent accumulators
    (block $wide_done
      (loop $wide
        (br_if $wide_done (i32.gt_u (i32.add (local.get $x) (i32.const 32)) (local.get $end)))
        (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (v128.load (local.get $x)) (v128.load (local.get $y)))))
        (local.set $a1 (f64x2.add (local.get $a1)
          (f64x2.mul (v128.load offset=16 (local.get $x)) (v128.load offset=16 (local.get $y)))))
        (local.set $x (i32.add (local.get $x) (i32.const 32)))
        (local.set $y (i32.add (local.get $y) (i32.const 32)))
        (br $wide)))
    ;; at most one more pair
    (if (i32.le_u (i32.add (local.get $x) (i32.const 16)) (local.get $end))
      (then
        (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (v128.load (local.get $x)) (v128.load (local.get $y)))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))))
    (local.set $a0 (f64x2.add (local.get $a0) (local.get $a1)))
    (local.set $s (f64.add (f64x2.extract_lane 0 (local.get $a0)) (f64x2.extract_lane 1 (local.get $a0))))
    ;; and at most one single
    (if (i32.lt_u (local.get $x) (local.get $end))
      (then (local.set $s (f64.add (local.get $s) (f64.mul (f64.load (local.get $x)) (f64.load (local.get $y)))))))
    (local.get $s))

;; The two sums x1 . y and x2 . y over n elements, each added exactly as $dot adds it (same
  ;; lanes, same order, same tails), so each equals $dot's result bit for bit; the loads of y
  ;; are shared, and one call does the work of two.
  (func $dot2 (param $x1 i32) (param $x2 i32) (param $y i32) (param $n i32) (result f64 f64)
    (local $a0 v128) (local $a1 v128) (local $b0 v128) (local $b1 v128) (local $y0 v128) (local $y1 v128)
    (local $end i32) (local $s f64) (local $t f64)
    (local.set $end (i32.add (local.get $x1) (i32.shl (local.get $n) (i32.const 3))))
    (block $wide_done
      (loop $wide
        (br_if $wide_done (i32.gt_u (i32.add (local.get $x1) (i32.const 32)) (local.get $end)))
        (local.set $y0 (v128.load (local.get $y)))
        (local.set $y1 (v128.load offset=16 (local.get $y)))
        (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (v128.load (local.get $x1)) (local.get $y0))))
        (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (v128.load offset=16 (local.get $x1)) (local.get $y1))))
        (local.set $b0 (f64x2.add (local.get $b0) (f64x2.mul (v128.load (local.get $x2)) (local.get $y0))))
        (local.set $b1 (f64x2.add (local.get $b1) (f64x2.mul (v128.load offset=16 (local.get $x2)) (local.get $y1))))
        (local.set $x1 (i32.add (local.get $x1) (i32.const 32)))
        (local.set $x2 (i32.add (local.get $x2) (i32.const 32)))
        (local.set $y (i32.add (local.get $y) (i32.const 32)))
        (br $wide)))
    (if (i32.le_u (i32.add (local.get $x1) (i32.const 16)) (local.get $end))
      (then
        (local.set $y0 (v128.load (local.get $y)))
        (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (v128.load (local.get $x1)) (local.get $y0))))
        (local.set $b0 (f64x2.add (local.get $b0) (f64x2.mul (v128.load (local.get $x2)) (local.get $y0))))
        (local.set $x1 (i32.add (local.get $x1) (i32.const 16)))
        (local.set $x2 (i32.add (local.get $x2) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))))
    (local.set $a0 (f64x2.add (local.get $a0) (local.get $a1)))
    (local.set $b0 (f64x2.add (local.get $b0) (local.get $b1)))
    (local.set $s (f64.add (f64x2.extract_lane 0 (local.get $a0)) (f64x2.extract_lane 1 (local.get $a0))))
    (local.set $t (f64.add (f64x2.extract_lane 0 (local.get $b0)) (f64x2.extract_lane 1 (local.get $b0))))
    (if (i32.lt_u (local.get $x1) (local.get $end))
      (then
        (local.set $s (f64.add (local.get $s) (f64.mul (f64.load (local.get $x1)) (f64.load (local.get $y)))))
        (local.set $t (f64.add (local.get $t) (f64.mul (f64.load (local.get $x2)) (f64.load (local.get $y)))))))
    (local.get $s) (local.get $t))

  ;; A pivot s is usable when s > 0 and finite (s > 0 is false for NaN; s - s == 0 is false for +Inf)
  (func $pivot_ok (param $s f64) (result i32)
    (i32.and (f64.gt (local.get $s) (f64.const 0))
             (f64.eq (f64.sub (local.get $s) (local.get $s)) (f64.const 0))))

  ;; Lower Cholesky factor L of the symmetric positive-definite A (d x d), lower triangle only
  ;; written (A's lower triangle only read); 0 when a pivot is not a positive finite number.
  ;; Also the mode count's solves. Every entry is L[i,j] = (A[i,j] - L[i,0..j) . L[j,0..j)) / L[j,j]
  ;; (sqrt on the diagonal) with the sum as $dot forms it; rows i and i+1 are formed together
  ;; ($dot2 shares the loads of row j), which changes no entry's arithmetic: the factor has the
  ;; bits of one entry at a time.
  (func $cholesky (export "cholesky_lower") (param $d i32) (param $A i32) (param $L i32) (result i32)
    (local $stride i32) (local $i i32) (local $j i32) (local $rowI i32) (local $rowI1 i32) (local $rowJ i32)
    (local $s f64) (local $t f64) (local $ljj f64) (local $lii f64)
    (local.set $stride (i32.shl (local.get $d) (i32.const 3)))
    (local.set $i (i32.const 0))
    (block $chol_done
      (loop $rows
        (br_if $chol_done (i32.ge_u (local.get $i) (local.get $d)))
        (local.set $rowI (i32.mul (local.get $i) (local.get $stride)))
        (if (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $d))
          (then
            ;; rows i and i+1 left of column i
            (local.set $rowI1 (i32.add (local.get $rowI) (local.get $stride)))
            (local.set $j (i32.const 0))
            (block $pair_done
              (loop $pair_cols
                (br_if $pair_done (i32.ge_u (local.get $j) (local.get $i)))
                (local.set $rowJ (i32.mul (local.get $j) (local.get $stride)))
                (call $dot2 (i32.add (local.get $L) (local.get $rowI)) (i32.add (local.get $L) (local.get $rowI1))
                  (i32.add (local.get $L) (local.get $rowJ)) (local.get $j))
                (local.set $t)
                (local.set $s)
                (local.set $ljj (f64.load (i32.add (local.get $L) (i32.add (local.get $rowJ) (i32.shl (local.get $j) (i32.const 3))))))
                (f64.store (i32.add (local.get $L) (i32.add (local.get $rowI) (i32.shl (local.get $j) (i32.const 3))))
                  (f64.div (f64.sub (f64.load (i32.add (local.get $A) (i32.add (local.get $rowI) (i32.shl (local.get $j) (i32.const 3)))))
                                    (local.get $s))
                           (local.get $ljj)))
                (f64.store (i32.add (local.get $L) (i32.add (local.get $rowI1) (i32.shl (local.get $j) (i32.const 3))))
                  (f64.div (f64.sub (f64.load (i32.add (local.get $A) (i32.add (local.get $rowI1) (i32.shl (local.get $j) (i32.const 3)))))
                                    (local.get $t))
                           (local.get $ljj)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $pair_cols)))
            ;; L[i,i]
            (local.set $s (f64.sub
              (f64.load (i32.add (local.get $A) (i32.add (local.get $rowI) (i32.shl (local.get $i) (i32.const 3)))))
              (call $dot (i32.add (local.get $L) (local.get $rowI)) (i32.add (local.get $L) (local.get $rowI)) (local.get $i))))
            (if (i32.eqz (call $pivot_ok (local.get $s))) (then (return (i32.const 0))))
            (local.set $lii (f64.sqrt (local.get $s)))
            (f64.store (i32.add (local.get $L) (i32.add (local.get $rowI) (i32.shl (local.get $i) (i32.const 3)))) (local.get $lii))
            ;; L[i+1,i]
            (f64.store (i32.add (local.get $L) (i32.add (local.get $rowI1) (i32.shl (local.get $i) (i32.const 3))))
              (f64.div (f64.sub
                (f64.load (i32.add (local.get $A) (i32.add (local.get $rowI1) (i32.shl (local.get $i) (i32.const 3)))))
                (call $dot (i32.add (local.get $L) (local.get $rowI1)) (i32.add (local.get $L) (local.get $rowI)) (local.get $i)))
                (local.get $lii)))
            ;; L[i+1,i+1]
            (local.set $j (i32.add (local.get $i) (i32.const 1)))
            (local.set $t (f64.sub
              (f64.load (i32.add (local.get $A) (i32.add (local.get $rowI1) (i32.shl (local.get $j) (i32.const 3)))))
              (call $dot (i32.add (local.get $L) (local.get $rowI1)) (i32.add (local.get $L) (local.get $rowI1)) (local.get $j))))
            (if (i32.eqz (call $pivot_ok (local.get $t))) (then (return (i32.const 0))))
            (f64.store (i32.add (local.get $L) (i32.add (local.get $rowI1) (i32.shl (local.get $j) (i32.const 3)))) (f64.sqrt (local.get $t)))
            (local.set $i (i32.add (local.get $i) (i32.const 2))))
          (else
            ;; the last row of an odd d, one entry at a time
            (local.set $j (i32.const 0))
            (block $cols_done
              (loop $cols
                (br_if $cols_done (i32.gt_u (local.get $j) (local.get $i)))
                (local.set $rowJ (i32.mul (local.get $j) (local.get $stride)))
                ;; s = A[i, j] - L[i, 0..j) . L[j, 0..j)
                (local.set $s (f64.sub
                  (f64.load (i32.add (local.get $A) (i32.add (local.get $rowI) (i32.shl (local.get $j) (i32.const 3)))))
                  (call $dot (i32.add (local.get $L) (local.get $rowI)) (i32.add (local.get $L) (local.get $rowJ)) (local.get $j))))
                (if (i32.eq (local.get $i) (local.get $j))
                  (then
                    (if (i32.eqz (call $pivot_ok (local.get $s))) (then (return (i32.const 0))))
                    (f64.store (i32.add (local.get $L) (i32.add (local.get $rowI) (i32.shl (local.get $i) (i32.const 3))))
                      (f64.sqrt (local.get $s))))
                  (else
                    (f64.store (i32.add (local.get $L) (i32.add (local.get $rowI) (i32.shl (local.get $j) (i32.const 3))))
                      (f64.div (local.get $s)
                        (f64.load (i32.add (local.get $L) (i32.add (local.get $rowJ) (i32.shl (local.get $j) (i32.const 3)))))))))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $cols)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))))
        (br $rows)))
    (i32.const 1))

  ;; Solves L y = b into out (forward substitution; lower L, only its lower triangle read),
  ;; each out[i] = (b[i] - L[i,0] out[0] - L[i,1] out[1] - ...) / L[i,i] subtracted one term at a
  ;; time in that order, as forwardSolve in small-linalg.ts: the same bits. b may alias out.
  (func $forward (param $d i32) (param $L i32) (param $b i32) (param $out i32)
    (local $i i32) (local $k i32) (local $row i32) (local $s f64)
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $d)))
        (local.set $row (i32.add (local.get $L) (i32.mul (local.get $i) (i32.shl (local.get $d) (i32.const 3)))))
        (local.set $s (f64.load (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $k (i32.const 0))
        (block $k_done
          (loop $terms
            (br_if $k_done (i32.ge_u (local.get $k) (local.get $i)))
            (local.set $s (f64.sub (local.get $s)
              (f64.mul (f64.load (i32.add (local.get $row) (i32.shl (local.get $k) (i32.const 3))))
                       (f64.load (i32.add (local.get $out) (i32.shl (local.get $k) (i32.const 3)))))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $terms)))
        (f64.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 3)))
          (f64.div (local.get $s) (f64.load (i32.add (local.get $row) (i32.shl (local.get $i) (i32.const 3))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows))))

  ;; Solves L^T x = y into out (back substitution), as backSolve in small-linalg.ts: out[i] =
  ;; (y[i] - L[i+1,i] out[i+1] - L[i+2,i] out[i+2] - ...) / L[i,i], the same bits.
  (func $back (param $d i32) (param $L i32) (param $y i32) (param $out i32)
    (local $i i32) (local $k i32) (local $stride i32) (local $s f64)
    (local.set $stride (i32.shl (local.get $d) (i32.const 3)))
    (local.set $i (local.get $d))
    (block $done
      (loop $rows
        (br_if $done (i32.eqz (local.get $i)))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (local.set $s (f64.load (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $k (i32.add (local.get $i) (i32.const 1)))
        (block $k_done
          (loop $terms
            (br_if $k_done (i32.ge_u (local.get $k) (local.get $d)))
            (local.set $s (f64.sub (local.get $s)
              (f64.mul (f64.load (i32.add (local.get $L) (i32.add (i32.mul (local.get $k) (local.get $stride)) (i32.shl (local.get $i) (i32.const 3)))))
                       (f64.load (i32.add (local.get $out) (i32.shl (local.get $k) (i32.const 3)))))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $terms)))
        (f64.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 3)))
          (f64.div (local.get $s)
            (f64.load (i32.add (local.get $L) (i32.add (i32.mul (local.get $i) (local.get $stride)) (i32.shl (local.get $i) (i32.const 3)))))))
        (br $rows))))

  ;; |L^-1 (x - mu)|^2 with diff and z as scratch: the squared Mahalanobis distance of
  ;; logNormal in modes.ts (diff = x - mu, forward substitution, sum of squares from 0 in order)
  (func $mahalanobis (param $d i32) (param $L i32) (param $x i32) (param $mu i32) (param $diff i32) (param $z i32) (result f64)
    (local $j i32) (local $o i32) (local $q f64)
    (block $done
      (loop $el
        (br_if $done (i32.ge_u (local.get $j) (local.get $d)))
        (local.set $o (i32.shl (local.get $j) (i32.const 3)))
        (f64.store (i32.add (local.get $diff) (local.get $o))
          (f64.sub (f64.load (i32.add (local.get $x) (local.get $o))) (f64.load (i32.add (local.get $mu) (local.get $o)))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $el)))
    (call $forward (local.get $d) (local.get $L) (local.get $diff) (local.get $z))
    (local.set $j (i32.const 0))
    (block $sum_done
      (loop $sum
        (br_if $sum_done (i32.ge_u (local.get $j) (local.get $d)))
        (local.set $o (i32.add (local.get $z) (i32.shl (local.get $j) (i32.const 3))))
        (local.set $q (f64.add (local.get $q) (f64.mul (f64.load (local.get $o)) (f64.load (local.get $o)))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $sum)))
    (local.get $q))

  ;; One point a of the ridgeline of two components A, B (modes.ts), from a block at byte 0 of
  ;; d x d matrices M, L, P_A, P_B, L_A, L_B (precisions, covariance factors) and d-vectors
  ;; P_A mu_A, P_B mu_B, mu_A, mu_B, rhs, y, x, diff, z, then two results:
  ;;   M = b P_A + a P_B, rhs = b P_A mu_A + a P_B mu_B (b = 1 - a, given), x = M^-1 rhs by
  ;;   Cholesky and two substitutions, then |L_A^-1 (x - mu_A)|^2 and |L_B^-1 (x - mu_B)|^2.
  ;; Each step is the JS arithmetic of modes.ts term for term (lane-wise products and sums
  ;; for M are per element), so the results have its bits. 0 when M is not positive definite.
  (func (export "ridge_point") (param $d i32) (param $a f64) (param $b f64) (result i32)
    (local $dd8 i32) (local $v8 i32) (local $vec i32) (local $o i32) (local $end i32)
    (local $av v128) (local $bv v128)
    (local.set $dd8 (i32.shl (i32.mul (local.get $d) (local.get $d)) (i32.const 3)))
    (local.set $v8 (i32.shl (local.get $d) (i32.const 3)))
    (local.set $vec (i32.mul (local.get $dd8) (i32.const 6)))
    (local.set $av (f64x2.splat (local.get $a)))
    (local.set $bv (f64x2.splat (local.get $b)))
    ;; M, two elements per step (an odd d * d leaves one for the tail)
    (local.set $o (i32.const 0))
    (block $m_done
      (loop $m
        (br_if $m_done (i32.gt_u (i32.add (local.get $o) (i32.const 16)) (local.get $dd8)))
        (v128.store (local.get $o)
          (f64x2.add (f64x2.mul (local.get $bv) (v128.load (i32.add (local.get $o) (i32.mul (local.get $dd8) (i32.const 2)))))
                     (f64x2.mul (local.get $av) (v128.load (i32.add (local.get $o) (i32.mul (local.get $dd8) (i32.const 3)))))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $m)))
    (if (i32.lt_u (local.get $o) (local.get $dd8))
      (then
        (f64.store (local.get $o)
          (f64.add (f64.mul (local.get $b) (f64.load (i32.add (local.get $o) (i32.mul (local.get $dd8) (i32.const 2)))))
                   (f64.mul (local.get $a) (f64.load (i32.add (local.get $o) (i32.mul (local.get $dd8) (i32.const 3)))))))))
    ;; rhs
    (local.set $o (i32.const 0))
    (block $r_done
      (loop $r
        (br_if $r_done (i32.ge_u (local.get $o) (local.get $v8)))
        (f64.store (i32.add (i32.add (local.get $vec) (i32.shl (local.get $v8) (i32.const 2))) (local.get $o))
          (f64.add (f64.mul (local.get $b) (f64.load (i32.add (local.get $vec) (local.get $o))))
                   (f64.mul (local.get $a) (f64.load (i32.add (i32.add (local.get $vec) (local.get $v8)) (local.get $o))))))
        (local.set $o (i32.add (local.get $o) (i32.const 8)))
        (br $r)))
    (if (i32.eqz (call $cholesky (local.get $d) (i32.const 0) (local.get $dd8))) (then (return (i32.const 0))))
    ;; y = L^-1 rhs, x = L^-T y
    (call $forward (local.get $d) (local.get $dd8)
      (i32.add (local.get $vec) (i32.mul (local.get $v8) (i32.const 4))) (i32.add (local.get $vec) (i32.mul (local.get $v8) (i32.const 5))))
    (call $back (local.get $d) (local.get $dd8)
      (i32.add (local.get $vec) (i32.mul (local.get $v8) (i32.const 5))) (i32.add (local.get $vec) (i32.mul (local.get $v8) (i32.const 6))))
    (local.set $end (i32.add (local.get $vec) (i32.mul (local.get $v8) (i32.const 9))))
    (f64.store (local.get $end)
      (call $mahalanobis (local.get $d) (i32.mul (local.get $dd8) (i32.const 4))
        (i32.add (local.get $vec) (i32.mul (local.get $v8) (i32.const 6))) (i32.add (local.get $vec) (i32.mul (local.get $v8) (i32.const 2)))
        (i32.add (local.get $vec) (i32.mul (local.get $v8) (i32.const 7))) (i32.add (local.get $vec) (i32.mul (local.get $v8) (i32.const 8)))))
    (f64.store offset=8 (local.get $end)
      (call $mahalanobis (local.get $d) (i32.mul (local.get $dd8) (i32.const 5))
        (i32.add (local.get $vec) (i32.mul (local.get $v8) (i32.const 6))) (i32.add (local.get $vec) (i32.mul (local.get $v8) (i32.const 3)))
        (i32.add (local.get $vec) (i32.mul (local.get $v8) (i32.const 7))) (i32.add (local.get $vec) (i32.mul (local.get $v8) (i32.const 8)))))
    (i32.const 1))

  ;; dst[t] -= c0 p0[t] + c1 p1[t] + c2 p2[t] + c3 p3[t] for t < n (byte pointers, f64
  ;; elements): four rows folded into one pass over dst, two lanes per step
  (func $axpy4 (param $dst i32) (param $p0 i32) (param $p1 i32) (param $p2 i32) (param $p3 i32)
               (param $c0 f64) (param $c1 f64) (param $c2 f64) (param $c3 f64) (param $n i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128) (local $o i32) (local $end i32)
    (local.set $v0 (f64x2.splat (local.get $c0)))
    (local.set $v1 (f64x2.splat (local.get $c1)))
    (local.set $v2 (f64x2.splat (local.get $c2)))
    (local.set $v3 (f64x2.splat (local.get $c3)))
    (local.set $end (i32.shl (local.get $n) (i32.const 3)))
    (block $done
      (loop $pairs
        (br_if $done (i32.gt_u (i32.add (local.get $o) (i32.const 16)) (local.get $end)))
        (v128.store (i32.add (local.get $dst) (local.get $o))
          (f64x2.sub (v128.load (i32.add (local.get $dst) (local.get $o)))
            (f64x2.add
              (f64x2.add (f64x2.mul (local.get $v0) (v128.load (i32.add (local.get $p0) (local.get $o))))
                         (f64x2.mul (local.get $v1) (v128.load (i32.add (local.get $p1) (local.get $o)))))
              (f64x2.add (f64x2.mul (local.get $v2) (v128.load (i32.add (local.get $p2) (local.get $o))))
                         (f64x2.mul (local.get $v3) (v128.load (i32.add (local.get $p3) (local.get $o))))))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $pairs)))
    (if (i32.lt_u (local.get $o) (local.get $end))
      (then
        (f64.store (i32.add (local.get $dst) (local.get $o))
          (f64.sub (f64.load (i32.add (local.get $dst) (local.get $o)))
            (f64.add
              (f64.add (f64.mul (local.get $c0) (f64.load (i32.add (local.get $p0) (local.get $o))))
                       (f64.mul (local.get $c1) (f64.load (i32.add (local.get $p1) (local.get $o)))))
              (f64.add (f64.mul (local.get $c2) (f64.load (i32.add (local.get $p2) (local.get $o))))
                       (f64.mul (local.get $c3) (f64.load (i32.add (local.get $p3) (local.get $o)))))))))))

  ;; dst[t] -= c p[t] for t < n (byte pointers, f64 elements)
  (func $axpy1 (param $dst i32) (param $p i32) (param $c f64) (param $n i32)
    (local $v v128) (local $o i32) (local $end i32)
    (local.set $v (f64x2.splat (local.get $c)))
    (local.set $end (i32.shl (local.get $n) (i32.const 3)))
    (block $done
      (loop $pairs
        (br_if $done (i32.gt_u (i32.add (local.get $o) (i32.const 16)) (local.get $end)))
        (v128.store (i32.add (local.get $dst) (local.get $o))
          (f64x2.sub (v128.load (i32.add (local.get $dst) (local.get $o)))
                     (f64x2.mul (local.get $v) (v128.load (i32.add (local.get $p) (local.get $o))))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $pairs)))
    (if (i32.lt_u (local.get $o) (local.get $end))
      (then
        (f64.store (i32.add (local.get $dst) (local.get $o))
          (f64.sub (f64.load (i32.add (local.get $dst) (local.get $o)))
                   (f64.mul (local.get $c) (f64.load (i32.add (local.get $p) (local.get $o)))))))))

  ;; scikit-learn's precisions_cholesky: the upper factor R of A = R^T R (R = L^T), written
  ;; over A's upper triangle, then U = R^-1 = L^-T (upper triangular, U U^T = A^-1) into U
  ;; with zeros below its diagonal. Both steps are row updates (axpy) along contiguous rows,
  ;; four pivot rows per pass: the dot-product form needed two loads per multiply-add and a
  ;; call per entry, this needs ~1.5 loads per two. Row updates start at an even column (a
  ;; 16-byte pair) and may so write one element left of the diagonal: in A that is the
  ;; unused lower triangle, in U a column whose terms are the zeros of rows below.
  ;; Returns 0 when a pivot is not a positive finite number (A not positive definite).
  (func (export "precision_cholesky") (param $d i32) (param $A i32) (param $U i32) (result i32)
    (local $stride i32) (local $i i32) (local $j i32) (local $jb i32) (local $je i32) (local $c i32)
    (local $m i32) (local $rowI i32) (local $rowJ i32) (local $p f64) (local $inv f64)
    (local.set $stride (i32.shl (local.get $d) (i32.const 3)))
    ;; R, right-looking, pivots in blocks of four
    (local.set $jb (i32.const 0))
    (block $chol_done
      (loop $blocks
        (br_if $chol_done (i32.ge_u (local.get $jb) (local.get $d)))
        (local.set $je (select (i32.add (local.get $jb) (i32.const 4)) (local.get $d)
                               (i32.lt_u (i32.add (local.get $jb) (i32.const 4)) (local.get $d))))
        ;; the block's own rows, one pivot at a time
        (local.set $j (local.get $jb))
        (block $piv_done
          (loop $pivots
            (br_if $piv_done (i32.ge_u (local.get $j) (local.get $je)))
            (local.set $rowJ (i32.add (local.get $A) (i32.mul (local.get $j) (local.get $stride))))
            (local.set $p (f64.load (i32.add (local.get $rowJ) (i32.shl (local.get $j) (i32.const 3)))))
            ;; p > 0 is false for NaN; p - p == 0 is false for +Inf
            (if (i32.eqz (i32.and (f64.gt (local.get $p) (f64.const 0))
                                  (f64.eq (f64.sub (local.get $p) (local.get $p)) (f64.const 0))))
              (then (return (i32.const 0))))
            (local.set $p (f64.sqrt (local.get $p)))
            (f64.store (i32.add (local.get $rowJ) (i32.shl (local.get $j) (i32.const 3))) (local.get $p))
            ;; times the reciprocal, as LAPACK's potrf scales a pivot row
            (local.set $inv (f64.div (f64.const 1) (local.get $p)))
            (local.set $c (i32.add (local.get $j) (i32.const 1)))
            (block $scale_done
              (loop $scale
                (br_if $scale_done (i32.ge_u (local.get $c) (local.get $d)))
                (f64.store (i32.add (local.get $rowJ) (i32.shl (local.get $c) (i32.const 3)))
                  (f64.mul (f64.load (i32.add (local.get $rowJ) (i32.shl (local.get $c) (i32.const 3)))) (local.get $inv)))
                (local.set $c (i32.add (local.get $c) (i32.const 1)))
                (br $scale)))
            ;; rows j+1..je of the block: A[i, c] -= R[j, i] R[j, c] for c >= i (from an even c)
            (local.set $i (i32.add (local.get $j) (i32.const 1)))
            (block $in_done
              (loop $inner
                (br_if $in_done (i32.ge_u (local.get $i) (local.get $je)))
                (local.set $c (i32.and (local.get $i) (i32.const -2)))
                (call $axpy1
                  (i32.add (i32.add (local.get $A) (i32.mul (local.get $i) (local.get $stride))) (i32.shl (local.get $c) (i32.const 3)))
                  (i32.add (local.get $rowJ) (i32.shl (local.get $c) (i32.const 3)))
                  (f64.load (i32.add (local.get $rowJ) (i32.shl (local.get $i) (i32.const 3))))
                  (i32.sub (local.get $d) (local.get $c)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $inner)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $pivots)))
        ;; the trailing rows: all four pivots at once (a block of fewer than four is the last)
        (local.set $rowJ (i32.add (local.get $A) (i32.mul (local.get $jb) (local.get $stride))))
        (local.set $i (local.get $je))
        (block $trail_done
          (loop $trail
            (br_if $trail_done (i32.ge_u (local.get $i) (local.get $d)))
            (local.set $c (i32.and (local.get $i) (i32.const -2)))
            (local.set $m (i32.shl (local.get $c) (i32.const 3)))
            (local.set $rowI (i32.shl (local.get $i) (i32.const 3)))
            (call $axpy4
              (i32.add (i32.add (local.get $A) (i32.mul (local.get $i) (local.get $stride))) (local.get $m))
              (i32.add (local.get $rowJ) (local.get $m))
              (i32.add (i32.add (local.get $rowJ) (local.get $stride)) (local.get $m))
              (i32.add (i32.add (local.get $rowJ) (i32.shl (local.get $stride) (i32.const 1))) (local.get $m))
              (i32.add (i32.add (local.get $rowJ) (i32.mul (local.get $stride) (i32.const 3))) (local.get $m))
              (f64.load (i32.add (local.get $rowJ) (local.get $rowI)))
              (f64.load (i32.add (i32.add (local.get $rowJ) (local.get $stride)) (local.get $rowI)))
              (f64.load (i32.add (i32.add (local.get $rowJ) (i32.shl (local.get $stride) (i32.const 1))) (local.get $rowI)))
              (f64.load (i32.add (i32.add (local.get $rowJ) (i32.mul (local.get $stride) (i32.const 3))) (local.get $rowI)))
              (i32.sub (local.get $d) (local.get $c)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $trail)))
        (local.set $jb (local.get $je))
        (br $blocks)))
    ;; U = R^-1 by back substitution, last row first: U[i, :] = (e_i - sum_{m>i} R[i, m] U[m, :]) / R[i, i]
    (local.set $i (local.get $d))
    (block $u_done
      (loop $urows
        (br_if $u_done (i32.eqz (local.get $i)))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (local.set $rowI (i32.add (local.get $U) (i32.mul (local.get $i) (local.get $stride))))
        (local.set $rowJ (i32.add (local.get $A) (i32.mul (local.get $i) (local.get $stride)))) ;; row i of R
        (memory.fill (local.get $rowI) (i32.const 0) (local.get $stride))
        (f64.store (i32.add (local.get $rowI) (i32.shl (local.get $i) (i32.const 3))) (f64.const 1))
        (local.set $m (i32.add (local.get $i) (i32.const 1)))
        (block $four_done
          (loop $fours
            (br_if $four_done (i32.gt_u (i32.add (local.get $m) (i32.const 4)) (local.get $d)))
            (local.set $c (i32.shl (i32.and (local.get $m) (i32.const -2)) (i32.const 3)))
            (local.set $jb (i32.add (i32.add (local.get $U) (i32.mul (local.get $m) (local.get $stride))) (local.get $c)))
            (local.set $je (i32.add (local.get $rowJ) (i32.shl (local.get $m) (i32.const 3))))
            (call $axpy4
              (i32.add (local.get $rowI) (local.get $c))
              (local.get $jb)
              (i32.add (local.get $jb) (local.get $stride))
              (i32.add (local.get $jb) (i32.shl (local.get $stride) (i32.const 1)))
              (i32.add (local.get $jb) (i32.mul (local.get $stride) (i32.const 3)))
              (f64.load (local.get $je))
              (f64.load offset=8 (local.get $je))
              (f64.load offset=16 (local.get $je))
              (f64.load offset=24 (local.get $je))
              (i32.sub (local.get $d) (i32.and (local.get $m) (i32.const -2))))
            (local.set $m (i32.add (local.get $m) (i32.const 4)))
            (br $fours)))
        (block $one_done
          (loop $ones
            (br_if $one_done (i32.ge_u (local.get $m) (local.get $d)))
            (local.set $c (i32.shl (i32.and (local.get $m) (i32.const -2)) (i32.const 3)))
            (call $axpy1
              (i32.add (local.get $rowI) (local.get $c))
              (i32.add (i32.add (local.get $U) (i32.mul (local.get $m) (local.get $stride))) (local.get $c))
              (f64.load (i32.add (local.get $rowJ) (i32.shl (local.get $m) (i32.const 3))))
              (i32.sub (local.get $d) (i32.and (local.get $m) (i32.const -2))))
            (local.set $m (i32.add (local.get $m) (i32.const 1)))
            (br $ones)))
        ;; row i (columns i..d) times 1 / R[i, i]
        (local.set $p (f64.div (f64.const 1) (f64.load (i32.add (local.get $rowJ) (i32.shl (local.get $i) (i32.const 3))))))
        (local.set $c (local.get $i))
        (block $div_done
          (loop $div
            (br_if $div_done (i32.ge_u (local.get $c) (local.get $d)))
            (f64.store (i32.add (local.get $rowI) (i32.shl (local.get $c) (i32.const 3)))
              (f64.mul (f64.load (i32.add (local.get $rowI) (i32.shl (local.get $c) (i32.const 3)))) (local.get $p)))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $div)))
        (br $urows)))
    (i32.const 1))

;; y = A x for a d x d row-major A (the power iterations of the PIT test's principal axes),
  ;; two rows per call of $dot2 (each y[i] has the bits of $dot(A_i, x))
  (func (export "matvec") (param $d i32) (param $A i32) (param $x i32) (param $y i32)
    (local $i i32) (local $stride i32) (local $row i32) (local $out i32) (local $s f64) (local $t f64)
    (local.set $stride (i32.shl (local.get $d) (i32.const 3)))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (i32.add (local.get $i) (i32.const 1)) (local.get $d)))
        (local.set $row (i32.add (local.get $A) (i32.mul (local.get $i) (local.get $stride))))
        (local.set $out (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 3))))
        (call $dot2 (local.get $row) (i32.add (local.get $row) (local.get $stride)) (local.get $x) (local.get $d))
        (local.set $t)
        (local.set $s)
        (f64.store (local.get $out) (local.get $s))
        (f64.store offset=8 (local.get $out) (local.get $t))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $rows)))
    (if (i32.lt_u (local.get $i) (local.get $d))
      (then
        (f64.store (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 3)))
          (call $dot (i32.add (local.get $A) (i32.mul (local.get $i) (local.get $stride))) (local.get $x) (local.get $d))))))

    ;; C = A B for m x m row-major A and C, with B given transposed (Bt): every entry one dot
  ;; product along rows (the matrix powers of the exact Kolmogorov distribution)
  (func (export "matmul_bt") (param $m i32) (param $A i32) (param $Bt i32) (param $C i32)
    (local $i i32) (local $j i32) (local $stride i32) (local $rowA i32) (local $out i32)
    (local.set $stride (i32.shl (local.get $m) (i32.const 3)))
    (local.set $out (local.get $C))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $m)))
        (local.set $rowA (i32.add (local.get $A) (i32.mul (local.get $i) (local.get $stride))))
        (local.set $j (i32.const 0))
        (block $cols_done
          (loop $cols
            (br_if $cols_done (i32.ge_u (local.get $j) (local.get $m)))
            (f64.store (local.get $out)
              (call $dot (local.get $rowA) (i32.add (local.get $Bt) (i32.mul (local.get $j) (local.get $stride))) (local.get $m)))
            (local.set $out (i32.add (local.get $out) (i32.const 8)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $cols)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows))))
)
