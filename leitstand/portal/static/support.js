var e=document.getElementById("release-code-form"),d=document.getElementById("new-code");e?.addEventListener("leitstand:done",t=>{document.getElementById("new-code-value").textContent=t.detail.code,d.hidden=!1,e.hidden=!0});
//# sourceMappingURL=support.js.map
