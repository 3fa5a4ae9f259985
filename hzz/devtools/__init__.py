"""Development and deployment tools the services never import: sample generators, the notebook
references, and the scaling monitor and report that deploy.sh deploys and runs."""
