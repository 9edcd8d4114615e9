"""Deployment assets: Kubernetes manifests (k8s/), their validator and the image's probe."""
