/* Measured fp32 FMA peak of this CPU (GFLOP/s over `threads` threads), for MFU figures. */
#ifndef HYPERLM_TRAIN_PEAK_H
#define HYPERLM_TRAIN_PEAK_H

double hlm_measure_peak_gflops(int threads);

#endif
