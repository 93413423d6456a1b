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

  ;; Lower Cholesky factor L of the symmetric positive-definite A (d x d), lower triangle only
  ;; written; 0 when a pivot is not a positive finite number. Also the mode count's solves.
  (func $cholesky (export "cholesky_lower") (param $d i32) (param $A i32) (param $L i32) (result i32)
    (local $stride i32) (local $i i32) (local $j i32) (local $rowI i32) (local $rowJ i32) (local $s f64)
    (local.set $stride (i32.shl (local.get $d) (i32.const 3)))
    (local.set $i (i32.const 0))
    (block $chol_done
      (loop $rows
        (br_if $chol_done (i32.ge_u (local.get $i) (local.get $d)))
        (local.set $rowI (i32.mul (local.get $i) (local.get $stride)))
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
                ;; s > 0 is false for NaN; s - s == 0 is false for +Inf
                (if (i32.eqz (i32.and (f64.gt (local.get $s) (f64.const 0))
                                      (f64.eq (f64.sub (local.get $s) (local.get $s)) (f64.const 0))))
                  (then (return (i32.const 0))))
                (f64.store (i32.add (local.get $L) (i32.add (local.get $rowI) (i32.shl (local.get $i) (i32.const 3))))
                  (f64.sqrt (local.get $s))))
              (else
                (f64.store (i32.add (local.get $L) (i32.add (local.get $rowI) (i32.shl (local.get $j) (i32.const 3))))
                  (f64.div (local.get $s)
                    (f64.load (i32.add (local.get $L) (i32.add (local.get $rowJ) (i32.shl (local.get $j) (i32.const 3)))))))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $cols)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows)))
    (i32.const 1))

  ;; Lower Cholesky factor L of the symmetric positive-definite A (d x d), then the upper
  ;; triangular U = L^-T (scikit-learn's precisions_cholesky), both in dot-product form so
  ;; the inner loops run along rows. Only L's lower and U's upper triangles are written.
  ;; Returns 0 when a pivot is not a positive finite number (A not positive definite).
  (func (export "precision_cholesky") (param $d i32) (param $A i32) (param $L i32) (param $U i32) (result i32)
    (local $stride i32) (local $i i32) (local $j i32) (local $rowI i32) (local $rowJ i32) (local $s f64)
    (local.set $stride (i32.shl (local.get $d) (i32.const 3)))
    (if (i32.eqz (call $cholesky (local.get $d) (local.get $A) (local.get $L)))
      (then (return (i32.const 0))))
    ;; U[j, i] = (delta_ij - L[i, j..i) . U[j, j..i)) / L[i, i] for i >= j
    (local.set $j (i32.const 0))
    (block $u_done
      (loop $urows
        (br_if $u_done (i32.ge_u (local.get $j) (local.get $d)))
        (local.set $rowJ (i32.mul (local.get $j) (local.get $stride)))
        (local.set $i (local.get $j))
        (block $ucols_done
          (loop $ucols
            (br_if $ucols_done (i32.ge_u (local.get $i) (local.get $d)))
            (local.set $rowI (i32.mul (local.get $i) (local.get $stride)))
            (local.set $s (call $dot
              (i32.add (local.get $L) (i32.add (local.get $rowI) (i32.shl (local.get $j) (i32.const 3))))
              (i32.add (local.get $U) (i32.add (local.get $rowJ) (i32.shl (local.get $j) (i32.const 3))))
              (i32.sub (local.get $i) (local.get $j))))
            (f64.store (i32.add (local.get $U) (i32.add (local.get $rowJ) (i32.shl (local.get $i) (i32.const 3))))
              (f64.div
                (f64.sub (select (f64.const 1) (f64.const 0) (i32.eq (local.get $i) (local.get $j))) (local.get $s))
                (f64.load (i32.add (local.get $L) (i32.add (local.get $rowI) (i32.shl (local.get $i) (i32.const 3)))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $ucols)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $urows)))
    (i32.const 1))

  ;; y = A x for a d x d row-major A (the power iterations of the PIT test's principal axes)
  (func (export "matvec") (param $d i32) (param $A i32) (param $x i32) (param $y i32)
    (local $i i32) (local $stride i32)
    (local.set $stride (i32.shl (local.get $d) (i32.const 3)))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $d)))
        (f64.store (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 3)))
          (call $dot (i32.add (local.get $A) (i32.mul (local.get $i) (local.get $stride))) (local.get $x) (local.get $d)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows))))

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
