"""Production monitoring: the prediction-log reader, drift statistics and verdict, its report,
and the retraining dispatch."""
