using System.Globalization;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Persistence;
using Microsoft.EntityFrameworkCore;

namespace AutoBuilder.Server.Builds;

/// <summary>
/// Copies a successful build's artifacts to artifacts/{project}/{version}/{file}. Release versions are immutable:
/// an existing file with other content is never overwritten (the build fails and says why); -SNAPSHOT versions
/// and build-number versions may be replaced, as in a Maven repository.
/// </summary>
public sealed class ArtifactPromoter(AutoBuilderDbContext db, IBlobStore store, BlobLayout layout, TimeProvider time)
{
    public static bool IsMutable(string version, int buildNumber) =>
        version.EndsWith("-SNAPSHOT", StringComparison.OrdinalIgnoreCase)
        || version == buildNumber.ToString(CultureInfo.InvariantCulture);

    /// <summary>Promotes every artifact and returns the rows to record; throws <see cref="PromotionException"/> on a refused overwrite.</summary>
    public async Task<IReadOnlyList<ArtifactEntity>> PromoteAsync(BuildEntity build, string version, IReadOnlyList<FileEntry> artifacts, CancellationToken cancellationToken = default)
    {
        var rows = new List<ArtifactEntity>();
        var mutable = IsMutable(version, build.Number);
        foreach (var artifact in artifacts)
        {
            var staged = layout.BuildArtifact(build.ProjectId, build.Number, artifact.Path);
            var properties = await store.GetPropertiesAsync(staged, cancellationToken)
                ?? throw new PromotionException($"artifact '{artifact.Path}' was reported but never uploaded");
            if (properties.Size != artifact.Size)
            {
                throw new PromotionException($"artifact '{artifact.Path}' has {properties.Size} bytes in storage but the runner reported {artifact.Size}");
            }

            var target = layout.Artifact(build.ProjectId, version, artifact.Path);
            try
            {
                await store.CopyAsync(staged, target, overwrite: mutable, cancellationToken);
            }
            catch (BlobAlreadyExistsException)
            {
                var existing = await db.Artifacts.AsNoTracking()
                    .Where(a => a.ProjectId == build.ProjectId && a.Version == version && a.Name == artifact.Path)
                    .OrderByDescending(a => a.Id).FirstOrDefaultAsync(cancellationToken);
                if (existing?.Sha256 != artifact.Sha256)
                {
                    throw new PromotionException(
                        $"artifact '{artifact.Path}' version {version} already exists with other content and release versions are never overwritten; bump the version or use a -SNAPSHOT version");
                }
            }

            rows.Add(new ArtifactEntity
            {
                BuildId = build.Id,
                ProjectId = build.ProjectId,
                Name = artifact.Path,
                Version = version,
                Size = artifact.Size,
                Sha256 = artifact.Sha256,
                CreatedAt = time.GetUtcNow(),
            });
        }

        return rows;
    }
}

public sealed class PromotionException(string message) : Exception(message);
