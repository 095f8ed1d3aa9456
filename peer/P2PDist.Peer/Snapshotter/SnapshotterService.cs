using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using P2PDist.Oci;
using P2PDist.Peer.Daemon;
using P2PDist.Protos.Containerd.Snapshots;
using P2PDist.Protos.Containerd.Types;
using P2PDist.Rafs;

namespace P2PDist.Peer.Snapshotter;

/// <summary>
/// containerd's snapshotter API (a proxy plugin), over <see cref="SnapshotStore"/>: ordinary overlay snapshots
/// for plain OCI layers (containerd unpacks them), and remote snapshots for Rafs layers: a Prepare carrying the
/// layer's chain id as <c>containerd.io/snapshot.ref</c> commits the layer under that name at once and answers
/// AlreadyExists, so containerd downloads nothing; a container's snapshot above it is an overlay whose lower layer
/// is the image's FUSE mount. Errors carry the gRPC codes containerd maps to its own errors.
/// </summary>
public sealed class SnapshotterService(SnapshotStore store, SnapshotLayout layout, ImageMounts images, RemoteLayerProbe probe, TimeProvider clock, ILogger log,
    SnapshotterMetrics metrics)
    : Snapshots.SnapshotsBase
{
    /// <summary>How long deciding a layer (its manifest from the registry) may take before Prepare answers Unavailable.</summary>
    private static readonly TimeSpan ProbeDeadline = TimeSpan.FromSeconds(30);

    public override Task<PrepareSnapshotResponse> Prepare(PrepareSnapshotRequest request, ServerCallContext context) =>
        Guard("prepare", async () => new PrepareSnapshotResponse { Mounts = { await CreateAsync(request.Key, request.Parent, request.Labels, SnapshotKind.Active, context.CancellationToken) } });

    public override Task<ViewSnapshotResponse> View(ViewSnapshotRequest request, ServerCallContext context) =>
        Guard("view", async () => new ViewSnapshotResponse { Mounts = { await CreateAsync(request.Key, request.Parent, request.Labels, SnapshotKind.View, context.CancellationToken) } });

    public override Task<MountsResponse> Mounts(MountsRequest request, ServerCallContext context) => Guard("mounts", async () =>
    {
        using (await store.LockAsync(context.CancellationToken))
        {
            var snapshot = Existing(request.Key);
            if (snapshot.Kind == SnapshotKind.Committed)
                throw Fail(StatusCode.FailedPrecondition, $"snapshot {Show(request.Key)} is committed: it has no mounts");
            return new MountsResponse { Mounts = { await MountsOfAsync(snapshot, context.CancellationToken) } };
        }
    });

    public override Task<Empty> Commit(CommitSnapshotRequest request, ServerCallContext context) => Guard("commit", async () =>
    {
        RequireName("name", request.Name);
        RequireLabels(request.Labels);
        using (await store.LockAsync(context.CancellationToken))
        {
            var active = Existing(request.Key);
            if (active.Kind != SnapshotKind.Active)
                throw Fail(StatusCode.FailedPrecondition, $"snapshot {Show(request.Key)} is not active: only an active snapshot can be committed");
            if (store.Find(request.Name) is not null)
                throw Fail(StatusCode.AlreadyExists, $"snapshot {Show(request.Name)} already exists");
            var now = clock.GetUtcNow();
            store.Put(active with { Name = request.Name, Kind = SnapshotKind.Committed, Labels = Copy(request.Labels), UpdatedAt = now }, replacing: request.Key);
            DeleteQuietly(layout.WorkOf(active.Id));
            await ReleaseUnusedImagesAsync(active);
            return new Empty();
        }
    });

    public override Task<Empty> Remove(RemoveSnapshotRequest request, ServerCallContext context) => Guard("remove", async () =>
    {
        using (await store.LockAsync(context.CancellationToken))
        {
            var snapshot = Existing(request.Key);
            if (store.HasChildren(snapshot.Name))
                throw Fail(StatusCode.FailedPrecondition, $"snapshot {Show(request.Key)} has children: remove them first");
            store.Delete(snapshot.Name);
            if (snapshot.Remote is null)
                layout.Delete(snapshot.Id);
            await ReleaseUnusedImagesAsync(snapshot);
            log.LogInformation("snapshotter: removed {Kind} snapshot {Key}", snapshot.Kind, LogText.Clip(snapshot.Name));
            return new Empty();
        }
    });

    public override Task<StatSnapshotResponse> Stat(StatSnapshotRequest request, ServerCallContext context) => Guard("stat", async () =>
    {
        using (await store.LockAsync(context.CancellationToken))
        {
            return new StatSnapshotResponse { Info = InfoOf(Existing(request.Key)) };
        }
    });

    public override Task<UpdateSnapshotResponse> Update(UpdateSnapshotRequest request, ServerCallContext context) => Guard("update", async () =>
    {
        if (request.Info is null)
            throw Fail(StatusCode.InvalidArgument, "update: no info given");
        RequireLabels(request.Info.Labels);
        using (await store.LockAsync(context.CancellationToken))
        {
            var snapshot = Existing(request.Info.Name);
            var labels = new Dictionary<string, string>(snapshot.Labels, StringComparer.Ordinal);
            var paths = request.UpdateMask?.Paths ?? [];
            if (paths.Count == 0 || paths.Contains("labels"))
            {
                labels = Copy(request.Info.Labels);
            }
            foreach (string path in paths.Where(p => p.StartsWith("labels.", StringComparison.Ordinal)))
            {
                string key = path["labels.".Length..];
                if (request.Info.Labels.TryGetValue(key, out var value))
                    labels[key] = value;
                else
                    labels.Remove(key);
            }
            if (paths.FirstOrDefault(p => p != "labels" && !p.StartsWith("labels.", StringComparison.Ordinal)) is { } other)
                throw Fail(StatusCode.InvalidArgument, $"update: field {Show(other)} cannot be changed (only labels)");
            if (SnapshotLabels.Problem(labels) is { } problem)
                throw Fail(StatusCode.InvalidArgument, problem);
            var updated = snapshot with { Labels = labels, UpdatedAt = clock.GetUtcNow() };
            store.Put(updated);
            return new UpdateSnapshotResponse { Info = InfoOf(updated) };
        }
    });

    /// <summary>Every snapshot, filters not applied: containerd checks what it asked for on what it receives.</summary>
    public override async Task List(ListSnapshotsRequest request, IServerStreamWriter<ListSnapshotsResponse> responseStream, ServerCallContext context)
    {
        List<Info> infos;
        using (await store.LockAsync(context.CancellationToken))
        {
            infos = store.All.Select(InfoOf).ToList();
        }
        foreach (var page in infos.Chunk(100))
            await responseStream.WriteAsync(new ListSnapshotsResponse { Info = { page } }, context.CancellationToken);
    }

    public override Task<UsageResponse> Usage(UsageRequest request, ServerCallContext context) => Guard("usage", async () =>
    {
        SnapshotRecord snapshot;
        using (await store.LockAsync(context.CancellationToken))
        {
            snapshot = Existing(request.Key);
        }
        if (snapshot.Remote is not null)
            return new UsageResponse();
        var (bytes, inodes) = DiskUsage.Of(layout.UpperOf(snapshot.Id), context.CancellationToken);
        return new UsageResponse { Size = bytes, Inodes = inodes };
    });

    /// <summary>Removes directories no snapshot owns (left by a crash between a metadata change and its directories).</summary>
    public override Task<Empty> Cleanup(CleanupRequest request, ServerCallContext context) => Guard("cleanup", async () =>
    {
        using (await store.LockAsync(context.CancellationToken))
        {
            var owned = store.All.Where(s => s.Remote is null).Select(s => s.Id).ToHashSet();
            foreach (string directory in Directory.EnumerateDirectories(layout.Root))
            {
                if (!long.TryParse(Path.GetFileName(directory), out long id) || !owned.Contains(id))
                {
                    Directory.Delete(directory, recursive: true);
                    log.LogInformation("snapshotter: cleaned up {Directory}, which no snapshot owns", directory);
                }
            }
            return new Empty();
        }
    });

    private async Task<Mount[]> CreateAsync(string key, string parent, IDictionary<string, string> requestLabels, SnapshotKind kind, CancellationToken cancellationToken)
    {
        RequireName("key", key);
        if (SnapshotLabels.NameProblem("parent", parent, mayBeEmpty: true) is { } badParent)
            throw Fail(StatusCode.InvalidArgument, badParent);
        RequireLabels(requestLabels);
        var labels = Copy(requestLabels);
        RemoteLayer? remote = null;
        if (labels.TryGetValue(SnapshotLabels.TargetRef, out var target))
        {
            RequireName($"label {SnapshotLabels.TargetRef}", target);
            remote = await ProbeAsync(labels, cancellationToken);
        }

        using (await store.LockAsync(cancellationToken))
        {
            if (store.Find(key) is not null)
                throw Fail(StatusCode.AlreadyExists, $"snapshot {Show(key)} already exists");
            if (parent.Length > 0)
            {
                var parentSnapshot = store.Find(parent) ?? throw Fail(StatusCode.NotFound, $"parent snapshot {Show(parent)} does not exist");
                if (parentSnapshot.Kind != SnapshotKind.Committed)
                    throw Fail(StatusCode.FailedPrecondition, $"parent snapshot {Show(parent)} is not committed");
            }
            var now = clock.GetUtcNow();
            if (target is not null && store.Find(target) is { Kind: SnapshotKind.Committed })
                throw Fail(StatusCode.AlreadyExists, $"target snapshot {Show(target)} already exists");
            if (target is not null && remote is not null)
            {
                labels[SnapshotLabels.Remote] = "true";
                store.Put(new SnapshotRecord { Id = store.NewId(), Name = target, Parent = parent, Kind = SnapshotKind.Committed, Labels = labels, CreatedAt = now, UpdatedAt = now, Remote = remote });
                log.LogInformation("snapshotter: layer {Layer} of {Image} is served lazily (remote snapshot {Name})", remote.LayerDigest, LogText.Clip(remote.ImageReference), LogText.Clip(target));
                throw Fail(StatusCode.AlreadyExists, $"target snapshot {Show(target)} is provided remotely");
            }

            var snapshot = new SnapshotRecord { Id = store.NewId(), Name = key, Parent = parent, Kind = kind, Labels = labels, CreatedAt = now, UpdatedAt = now };
            layout.Create(snapshot.Id, withWork: kind == SnapshotKind.Active);
            store.Put(snapshot);
            try
            {
                return await MountsOfAsync(snapshot, cancellationToken);
            }
            catch
            {
                store.Delete(snapshot.Name);
                layout.Delete(snapshot.Id);
                throw;
            }
        }
    }

    private async Task<RemoteLayer?> ProbeAsync(Dictionary<string, string> labels, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(ProbeDeadline);
        try
        {
            return await probe.ProbeAsync(labels, deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw Fail(StatusCode.Unavailable, $"layer {Show(labels.GetValueOrDefault(SnapshotLabels.LayerDigest, "?"))}: no manifest from the registry within {ProbeDeadline.TotalSeconds:0} s");
        }
        catch (Exception e) when (e is P2PDistException or OciException or HttpRequestException or IOException)
        {
            log.LogError("snapshotter: cannot decide layer {Layer} of {Image}: {Reason}", Show(labels.GetValueOrDefault(SnapshotLabels.LayerDigest, "?")),
                Show(labels.GetValueOrDefault(SnapshotLabels.ImageRef, "?")), e.Message);
            throw Fail(IsTransient(e) ? StatusCode.Unavailable : StatusCode.InvalidArgument,
                $"layer {Show(labels.GetValueOrDefault(SnapshotLabels.LayerDigest, "?"))}: {e.Message}");
        }
    }

    /// <summary>A registry that did not answer, or answered 5xx: worth a retry (Unavailable), unlike bad labels or a bad manifest.</summary>
    private static bool IsTransient(Exception e) => e switch
    {
        HttpRequestException or IOException => true,
        RegistryException registry => registry.StatusCode is 0 or >= 500 || registry.InnerException is not null,
        OciException oci => oci.InnerException is HttpRequestException or IOException,
        _ => false,
    };

    /// <summary>Called under the gate: mounts the image the snapshot sits on, if it sits on one.</summary>
    private async Task<Mount[]> MountsOfAsync(SnapshotRecord snapshot, CancellationToken cancellationToken)
    {
        var ancestors = store.Ancestors(snapshot);
        // Every remote layer of a chain is of one image (one manifest): its one FUSE root stands for them all.
        string? root = null;
        if (ancestors.Select(a => a.Remote).OfType<RemoteLayer>().FirstOrDefault() is { } remote)
        {
            try
            {
                root = await images.EnsureAsync(remote, cancellationToken);
            }
            catch (P2PDistException e)
            {
                throw Fail(StatusCode.Unavailable, $"snapshot {Show(snapshot.Name)}: {e.Message}");
            }
        }
        var lowers = SnapshotLayout.Lowers(ancestors, root, layout.UpperOf);
        return layout.MountsFor(snapshot, lowers);
    }

    /// <summary>Called under the gate: unmounts the images <paramref name="gone"/> sat on that no active or view snapshot still needs.</summary>
    private async Task ReleaseUnusedImagesAsync(SnapshotRecord gone)
    {
        var candidates = (gone.Remote is { } own ? [own] : new List<RemoteLayer>())
            .Concat(SafeAncestors(gone).Select(a => a.Remote).OfType<RemoteLayer>())
            .Select(r => r.ManifestDigest).Distinct().ToList();
        foreach (string manifest in candidates)
        {
            bool inUse = store.All.Any(s => s.Kind != SnapshotKind.Committed
                && store.Ancestors(s).Any(a => a.Remote?.ManifestDigest == manifest));
            if (!inUse)
                await images.ReleaseAsync(manifest);
        }
    }

    private List<SnapshotRecord> SafeAncestors(SnapshotRecord snapshot)
    {
        try
        {
            return store.Ancestors(snapshot);
        }
        catch (P2PDistException)
        {
            return [];
        }
    }

    private SnapshotRecord Existing(string key)
    {
        RequireName("key", key);
        return store.Find(key) ?? throw Fail(StatusCode.NotFound, $"snapshot {Show(key)} does not exist");
    }

    private static Info InfoOf(SnapshotRecord snapshot) => new()
    {
        Name = snapshot.Name,
        Parent = snapshot.Parent,
        Kind = snapshot.Kind switch
        {
            SnapshotKind.View => Kind.View,
            SnapshotKind.Active => Kind.Active,
            _ => Kind.Committed,
        },
        CreatedAt = Timestamp.FromDateTimeOffset(snapshot.CreatedAt),
        UpdatedAt = Timestamp.FromDateTimeOffset(snapshot.UpdatedAt),
        Labels = { snapshot.Labels },
    };

    private static Dictionary<string, string> Copy(IDictionary<string, string> labels) => new(labels, StringComparer.Ordinal);

    private static void RequireName(string what, string name)
    {
        if (SnapshotLabels.NameProblem(what, name) is { } problem)
            throw Fail(StatusCode.InvalidArgument, problem);
    }

    private static void RequireLabels(IDictionary<string, string> labels)
    {
        if (SnapshotLabels.Problem(new Dictionary<string, string>(labels)) is { } problem)
            throw Fail(StatusCode.InvalidArgument, problem);
    }

    private void DeleteQuietly(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
                Directory.Delete(directory, recursive: true);
        }
        catch (IOException e)
        {
            log.LogWarning("snapshotter: could not remove {Directory}: {Reason}", directory, e.Message);
        }
    }

    private static string Show(string text) => LogText.Clip(text);

    private static RpcException Fail(StatusCode code, string message) => new(new Status(code, message));

    /// <summary>Any failure that is not already a gRPC status becomes Unknown with its message, and is logged.</summary>
    private async Task<T> Guard<T>(string operation, Func<Task<T>> call)
    {
        long started = clock.GetTimestamp();
        string result = "ok";
        try
        {
            return await call();
        }
        catch (RpcException e)
        {
            result = e.StatusCode.ToString();
            throw;
        }
        catch (Exception e) when (e is P2PDistException or IOException or UnauthorizedAccessException)
        {
            result = nameof(StatusCode.Unknown);
            log.LogError("snapshotter: {Operation}: {Reason}", operation, e.Message);
            throw Fail(StatusCode.Unknown, e.Message);
        }
        finally
        {
            metrics.Seconds.WithLabels(operation, result).Observe(clock.GetElapsedTime(started).TotalSeconds);
            CountSnapshots();
        }
    }

    private void CountSnapshots()
    {
        var counts = store.Counts;
        metrics.Snapshots.WithLabels("remote").Set(counts.Remote);
        metrics.Snapshots.WithLabels("active").Set(counts.Active);
        metrics.Snapshots.WithLabels("view").Set(counts.View);
        metrics.Snapshots.WithLabels("committed").Set(counts.Committed);
    }
}
