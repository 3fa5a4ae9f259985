"""Development and deployment tools the services never import: sample generators, the notebook
references, and the scaling-log converter that deploy.sh runs."""
