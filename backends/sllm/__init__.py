"""The ServerlessLLM v1-beta head (`sllm start head`): models, replicas, nodes, cold starts."""
