"""The CDK app of Event Horizon: one construct per capability, composed by `EventHorizonStack`."""
