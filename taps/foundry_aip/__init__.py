"""tap-foundry-aip: Palantir Foundry AIP Agents sessions and their exchanges."""
