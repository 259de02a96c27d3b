"""The torch side: specs become runnable ``nn.Module``s. Only this package imports torch."""
