// Maps (Leaflet, vendored under vendor/): a photo page's small map of its place, and the Map page's
// clustered markers of every geotagged photo, each opening its photo. The tile URL and attribution come
// from the page (GALLERY_MAP_TILE_URL); a page without maps loads none of this.
"use strict";

function tileLayer(element) {
  return L.tileLayer(element.dataset.tiles, {maxZoom: 19, attribution: element.dataset.attribution});
}

function markerPopup(photo) {
  // Built as elements, not HTML text: a photo's name is the uploader's words.
  const link = document.createElement("a");
  link.href = photo.url;
  link.className = "map-popup";
  const image = document.createElement("img");
  image.src = photo.thumbnail;
  image.alt = photo.name;
  const name = document.createElement("span");
  name.textContent = photo.name;
  link.append(image, name);
  return link;
}

for (const element of document.querySelectorAll("[data-map]")) {
  const map = L.map(element, {scrollWheelZoom: !element.dataset.lat, worldCopyJump: true});
  tileLayer(element).addTo(map);
  if (element.dataset.lat) {
    const here = [Number(element.dataset.lat), Number(element.dataset.lon)];
    map.setView(here, 13);
    L.marker(here, {keyboard: false, alt: "Where this photo was taken"}).addTo(map);
    // In the photo page's folded information panel the map has no size until the panel opens.
    const panel = element.closest("details");
    if (panel) panel.addEventListener("toggle", () => { if (panel.open) map.invalidateSize(); });
    continue;
  }
  map.setView([20, 0], 2);
  fetch(element.dataset.photosUrl, {headers: {Accept: "application/json"}})
    .then((response) => response.ok ? response.json() : Promise.reject(response.status))
    .then(({photos}) => {
      const cluster = L.markerClusterGroup({showCoverageOnHover: false, maxClusterRadius: 50});
      for (const photo of photos) {
        const marker = L.marker([photo.lat, photo.lon], {title: photo.name, alt: photo.name});
        marker.bindPopup(() => markerPopup(photo), {minWidth: 160});
        cluster.addLayer(marker);
      }
      map.addLayer(cluster);
      if (photos.length) map.fitBounds(cluster.getBounds(), {maxZoom: 14, padding: [24, 24]});
      element.dataset.ready = String(photos.length);
    })
    .catch(() => { element.dataset.ready = "error"; });
}
