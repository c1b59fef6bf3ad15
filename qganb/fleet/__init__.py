"""Fleet rollouts on Ansible: an Ansible collection (qganb.fleet) whose action plugin runs qganb's
one install transaction over Ansible's connections, and the driver that runs it with
ansible-runner in canary-first batches."""
