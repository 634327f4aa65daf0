"""Fine-tuning and evaluation: GLUE, SQuAD and generative classification with the MLM head."""
