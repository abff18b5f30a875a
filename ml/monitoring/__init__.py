"""Production monitoring: drift statistics, the prediction-log reader, the drift report and the retraining dispatch."""
