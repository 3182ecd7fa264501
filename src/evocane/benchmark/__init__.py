"""The benchmark as a release others can use: bundles (``bundle``), exchange-format submissions written from
evocane's own predictions (``submission``), scoring a submission against a bundle (``score``), model cards
(``model_card``) and the Snakefile-side helpers of rules/benchmark.smk (``workflow``). The exchange format itself is
:mod:`evocane.exchange` (a contract the engines import too). This room sits above engines and evaluation; only the
CLI imports it."""
