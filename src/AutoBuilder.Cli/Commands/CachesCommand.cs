using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace AutoBuilder.Cli.Commands;

/// <summary><c>autobuilder caches list|delete</c>: a project's keyed dependency caches.</summary>
internal static class CachesCommand
{
    public static Command Create(ClientConsole console)
    {
        var caches = new Command("caches", "List and delete a project's dependency caches (archives saved by successful builds; the least recently used are evicted past Caches:MaxProjectBytes).");
        caches.Subcommands.Add(List(console));
        caches.Subcommands.Add(Delete(console));
        return caches;
    }

    private static Command List(ClientConsole console)
    {
        var common = new CommonOptions();
        var project = ClientCommands.ProjectArgument();
        var command = new Command("list", "List a project's caches, most recently used first: id, toolchain, key, size, created, last used; then the total and the project's limit.");
        command.Arguments.Add(project);
        common.AddTo(command);
        command.SetAction((parseResult, ct) => CommandRunner.RunAsync(console, common, parseResult, async client =>
        {
            BuildView.WriteCaches(console.Out, await client.GetCachesAsync(parseResult.GetRequiredValue(project), ct));
            return ExitCodes.Success;
        }, ct));
        return command;
    }

    private static Command Delete(ClientConsole console)
    {
        var common = new CommonOptions();
        var project = ClientCommands.ProjectArgument();
        var cacheId = new Argument<string?>("CACHE_ID") { Description = "The cache to delete (its id from `autobuilder caches list`)", Arity = ArgumentArity.ZeroOrOne };
        var all = new Option<bool>("--all") { Description = "Delete every cache of the project (its next build starts cold)" };
        var command = new Command("delete", "Delete one of a project's caches (CACHE_ID) or all of them (--all). A build never fails for a deleted cache; it restores an older one or starts cold.");
        command.Arguments.Add(project);
        command.Arguments.Add(cacheId);
        command.Options.Add(all);
        common.AddTo(command);
        command.SetAction((parseResult, ct) =>
        {
            var id = parseResult.GetValue(cacheId);
            var deleteAll = parseResult.GetValue(all);
            if (deleteAll == (id is not null))
            {
                console.WriteError(deleteAll
                    ? "give either CACHE_ID or --all, not both."
                    : "name the cache to delete (CACHE_ID, from `autobuilder caches list PROJECT`) or give --all.");
                return Task.FromResult(ExitCodes.Error);
            }

            return CommandRunner.RunAsync(console, common, parseResult, async client =>
            {
                var projectId = parseResult.GetRequiredValue(project);
                if (id is not null)
                {
                    await client.DeleteCacheAsync(projectId, id, ct);
                    console.Out.MarkupLineInterpolated($"Deleted cache {id} of project {projectId}.");
                }
                else
                {
                    var deleted = await client.DeleteCachesAsync(projectId, ct);
                    var count = deleted.Deleted.ToString(CultureInfo.InvariantCulture);
                    console.Out.MarkupLineInterpolated($"Deleted {count} cache{(deleted.Deleted == 1 ? "" : "s")} of project {projectId} ({BuildView.FormatBytes(deleted.FreedBytes)} freed).");
                }

                return ExitCodes.Success;
            }, ct);
        });
        return command;
    }
}
