"""The *render and export* stage: Leaflet maps (planner, citizen), offline HTML, the index page."""
